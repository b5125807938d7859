/*
 * A faster interpreter of classic BPF programs (those pcap_compile() makes), with libpcap's
 * bpf_filter() semantics.  See bpf_vm.c.
 */
#ifndef MAPI_STDLIB_BPF_VM_H
#define MAPI_STDLIB_BPF_VM_H

#include <stdint.h>

#include <pcap/bpf.h>

typedef struct bpf_vm bpf_vm_t;

/* Prepares a program (checked with libpcap's bpf_validate); NULL if it is invalid or memory
 * runs out, in which case the caller keeps using bpf_filter(). */
bpf_vm_t *bpf_vm_new(const struct bpf_insn *insns, unsigned count);

/* What bpf_filter(insns, packet, wirelen, buflen) returns for the same program. */
unsigned bpf_vm_run(const bpf_vm_t *vm, const unsigned char *packet, uint32_t wirelen, uint32_t buflen);

void bpf_vm_free(bpf_vm_t *vm);

#endif /* MAPI_STDLIB_BPF_VM_H */
