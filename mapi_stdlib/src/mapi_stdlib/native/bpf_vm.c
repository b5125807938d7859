/*
 * A faster interpreter of classic BPF programs.
 *
 * libpcap's bpf_filter() decodes every instruction with a switch on its 16-bit opcode, about 200
 * x86 instructions for `tcp and port 80` on an IPv4 packet.  Here each instruction is decoded once,
 * when the program is prepared, into an op that holds the address of its handler (GCC's labels as
 * values), its constant and its jump targets as pointers; running it is a chain of indirect jumps,
 * "threaded code", about a third of the work.
 *
 * The semantics are bpf_filter()'s, including every bounds check: a load outside the captured
 * bytes, a division or modulo by a zero X, and a load of a Linux ancillary field (these exist only
 * in the kernel) all make the program return 0.  bpf_validate() has checked the program (jumps
 * forward and in range, scratch memory indices, constant divisors, a final return), so the
 * handlers do not repeat those checks.  tests/test_bpf_vm.py compares both interpreters packet by
 * packet.
 */
#include <stdlib.h>

#include "bpf_vm.h"

struct op {
    const void *handler;
    uint32_t k;
    const struct op *jt;     /* jumps: where to go when the condition holds (JA: always) */
    const struct op *jf;
};

struct bpf_vm {
    unsigned count;
    struct op ops[];
};

static inline uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t load16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

/*
 * Runs the program, or (vm == NULL) hands out the handlers' addresses, which only exist inside
 * this function, to prepare().  The handler table's order is the enum's.
 */
enum handler {
    H_LD_W_ABS, H_LD_H_ABS, H_LD_B_ABS, H_LD_W_IND, H_LD_H_IND, H_LD_B_IND, H_LD_LEN, H_LD_IMM, H_LD_MEM,
    H_LDX_IMM, H_LDX_MEM, H_LDX_LEN, H_LDX_MSH, H_ST, H_STX,
    H_ADD_K, H_SUB_K, H_MUL_K, H_DIV_K, H_MOD_K, H_AND_K, H_OR_K, H_XOR_K, H_LSH_K, H_RSH_K,
    H_ADD_X, H_SUB_X, H_MUL_X, H_DIV_X, H_MOD_X, H_AND_X, H_OR_X, H_XOR_X, H_LSH_X, H_RSH_X, H_NEG,
    H_JA, H_JEQ_K, H_JGT_K, H_JGE_K, H_JSET_K, H_JEQ_X, H_JGT_X, H_JGE_X, H_JSET_X,
    H_RET_K, H_RET_A, H_TAX, H_TXA,
    H_COUNT
};

static unsigned execute(const bpf_vm_t *vm, const unsigned char *p, uint32_t wirelen, uint32_t buflen,
                        const void ***handlers)
{
    static const void *table[H_COUNT] = {
        &&ld_w_abs, &&ld_h_abs, &&ld_b_abs, &&ld_w_ind, &&ld_h_ind, &&ld_b_ind, &&ld_len, &&ld_imm, &&ld_mem,
        &&ldx_imm, &&ldx_mem, &&ldx_len, &&ldx_msh, &&st, &&stx,
        &&add_k, &&sub_k, &&mul_k, &&div_k, &&mod_k, &&and_k, &&or_k, &&xor_k, &&lsh_k, &&rsh_k,
        &&add_x, &&sub_x, &&mul_x, &&div_x, &&mod_x, &&and_x, &&or_x, &&xor_x, &&lsh_x, &&rsh_x, &&neg,
        &&ja, &&jeq_k, &&jgt_k, &&jge_k, &&jset_k, &&jeq_x, &&jgt_x, &&jge_x, &&jset_x,
        &&ret_k, &&ret_a, &&tax, &&txa,
    };
    if (vm == NULL) {
        *handlers = table;
        return 0;
    }
    uint32_t A = 0, X = 0, k;
    uint32_t mem[BPF_MEMWORDS] = {0};
    const struct op *pc = vm->ops;

#define NEXT() do { pc++; goto *pc->handler; } while (0)
    goto *pc->handler;

ld_w_abs:
    k = pc->k;
    if (k > buflen || 4 > buflen - k)
        return 0;
    A = load32(p + k);
    NEXT();
ld_h_abs:
    k = pc->k;
    if (k > buflen || 2 > buflen - k)
        return 0;
    A = load16(p + k);
    NEXT();
ld_b_abs:
    k = pc->k;
    if (k >= buflen)
        return 0;
    A = p[k];
    NEXT();
ld_w_ind:
    if (pc->k > buflen || X > buflen - pc->k)
        return 0;
    k = X + pc->k;
    if (4 > buflen - k)
        return 0;
    A = load32(p + k);
    NEXT();
ld_h_ind:
    if (pc->k > buflen || X > buflen - pc->k)
        return 0;
    k = X + pc->k;
    if (2 > buflen - k)
        return 0;
    A = load16(p + k);
    NEXT();
ld_b_ind:
    if (pc->k >= buflen || X >= buflen - pc->k)
        return 0;
    A = p[X + pc->k];
    NEXT();
ld_len:
    A = wirelen;
    NEXT();
ld_imm:
    A = pc->k;
    NEXT();
ld_mem:
    A = mem[pc->k];
    NEXT();
ldx_imm:
    X = pc->k;
    NEXT();
ldx_mem:
    X = mem[pc->k];
    NEXT();
ldx_len:
    X = wirelen;
    NEXT();
ldx_msh:
    k = pc->k;
    if (k >= buflen)
        return 0;
    X = (p[k] & 0xf) << 2;
    NEXT();
st:
    mem[pc->k] = A;
    NEXT();
stx:
    mem[pc->k] = X;
    NEXT();

add_k: A += pc->k; NEXT();
sub_k: A -= pc->k; NEXT();
mul_k: A *= pc->k; NEXT();
div_k: A /= pc->k; NEXT();          /* bpf_validate refuses a constant 0 */
mod_k: A %= pc->k; NEXT();
and_k: A &= pc->k; NEXT();
or_k: A |= pc->k; NEXT();
xor_k: A ^= pc->k; NEXT();
lsh_k: A = pc->k < 32 ? A << pc->k : 0; NEXT();
rsh_k: A = pc->k < 32 ? A >> pc->k : 0; NEXT();
add_x: A += X; NEXT();
sub_x: A -= X; NEXT();
mul_x: A *= X; NEXT();
div_x:
    if (X == 0)
        return 0;
    A /= X;
    NEXT();
mod_x:
    if (X == 0)
        return 0;
    A %= X;
    NEXT();
and_x: A &= X; NEXT();
or_x: A |= X; NEXT();
xor_x: A ^= X; NEXT();
lsh_x: A = X < 32 ? A << X : 0; NEXT();
rsh_x: A = X < 32 ? A >> X : 0; NEXT();
neg: A = -A; NEXT();

ja: pc = pc->jt; goto *pc->handler;
jeq_k: pc = A == pc->k ? pc->jt : pc->jf; goto *pc->handler;
jgt_k: pc = A > pc->k ? pc->jt : pc->jf; goto *pc->handler;
jge_k: pc = A >= pc->k ? pc->jt : pc->jf; goto *pc->handler;
jset_k: pc = A & pc->k ? pc->jt : pc->jf; goto *pc->handler;
jeq_x: pc = A == X ? pc->jt : pc->jf; goto *pc->handler;
jgt_x: pc = A > X ? pc->jt : pc->jf; goto *pc->handler;
jge_x: pc = A >= X ? pc->jt : pc->jf; goto *pc->handler;
jset_x: pc = A & X ? pc->jt : pc->jf; goto *pc->handler;

ret_k: return pc->k;
ret_a: return A;
tax: X = A; NEXT();
txa: A = X; NEXT();
#undef NEXT
}

/* The handler of one instruction, or -1 for an opcode this interpreter does not know. */
static int handler_of(uint16_t code)
{
    switch (code) {
    case BPF_LD | BPF_W | BPF_ABS: return H_LD_W_ABS;
    case BPF_LD | BPF_H | BPF_ABS: return H_LD_H_ABS;
    case BPF_LD | BPF_B | BPF_ABS: return H_LD_B_ABS;
    case BPF_LD | BPF_W | BPF_IND: return H_LD_W_IND;
    case BPF_LD | BPF_H | BPF_IND: return H_LD_H_IND;
    case BPF_LD | BPF_B | BPF_IND: return H_LD_B_IND;
    case BPF_LD | BPF_W | BPF_LEN: return H_LD_LEN;
    case BPF_LD | BPF_IMM: return H_LD_IMM;
    case BPF_LD | BPF_MEM: return H_LD_MEM;
    case BPF_LDX | BPF_W | BPF_IMM: return H_LDX_IMM;
    case BPF_LDX | BPF_W | BPF_MEM: return H_LDX_MEM;
    case BPF_LDX | BPF_W | BPF_LEN: return H_LDX_LEN;
    case BPF_LDX | BPF_B | BPF_MSH: return H_LDX_MSH;
    case BPF_ST: return H_ST;
    case BPF_STX: return H_STX;
    case BPF_ALU | BPF_ADD | BPF_K: return H_ADD_K;
    case BPF_ALU | BPF_SUB | BPF_K: return H_SUB_K;
    case BPF_ALU | BPF_MUL | BPF_K: return H_MUL_K;
    case BPF_ALU | BPF_DIV | BPF_K: return H_DIV_K;
    case BPF_ALU | BPF_MOD | BPF_K: return H_MOD_K;
    case BPF_ALU | BPF_AND | BPF_K: return H_AND_K;
    case BPF_ALU | BPF_OR | BPF_K: return H_OR_K;
    case BPF_ALU | BPF_XOR | BPF_K: return H_XOR_K;
    case BPF_ALU | BPF_LSH | BPF_K: return H_LSH_K;
    case BPF_ALU | BPF_RSH | BPF_K: return H_RSH_K;
    case BPF_ALU | BPF_ADD | BPF_X: return H_ADD_X;
    case BPF_ALU | BPF_SUB | BPF_X: return H_SUB_X;
    case BPF_ALU | BPF_MUL | BPF_X: return H_MUL_X;
    case BPF_ALU | BPF_DIV | BPF_X: return H_DIV_X;
    case BPF_ALU | BPF_MOD | BPF_X: return H_MOD_X;
    case BPF_ALU | BPF_AND | BPF_X: return H_AND_X;
    case BPF_ALU | BPF_OR | BPF_X: return H_OR_X;
    case BPF_ALU | BPF_XOR | BPF_X: return H_XOR_X;
    case BPF_ALU | BPF_LSH | BPF_X: return H_LSH_X;
    case BPF_ALU | BPF_RSH | BPF_X: return H_RSH_X;
    case BPF_ALU | BPF_NEG: return H_NEG;
    case BPF_JMP | BPF_JA: return H_JA;
    case BPF_JMP | BPF_JEQ | BPF_K: return H_JEQ_K;
    case BPF_JMP | BPF_JGT | BPF_K: return H_JGT_K;
    case BPF_JMP | BPF_JGE | BPF_K: return H_JGE_K;
    case BPF_JMP | BPF_JSET | BPF_K: return H_JSET_K;
    case BPF_JMP | BPF_JEQ | BPF_X: return H_JEQ_X;
    case BPF_JMP | BPF_JGT | BPF_X: return H_JGT_X;
    case BPF_JMP | BPF_JGE | BPF_X: return H_JGE_X;
    case BPF_JMP | BPF_JSET | BPF_X: return H_JSET_X;
    case BPF_RET | BPF_K: return H_RET_K;
    case BPF_RET | BPF_A: return H_RET_A;
    case BPF_MISC | BPF_TAX: return H_TAX;
    case BPF_MISC | BPF_TXA: return H_TXA;
    default: return -1;
    }
}

bpf_vm_t *bpf_vm_new(const struct bpf_insn *insns, unsigned count)
{
    if (count == 0 || !bpf_validate(insns, (int)count))
        return NULL;
    const void **table;
    execute(NULL, NULL, 0, 0, &table);
    bpf_vm_t *vm = malloc(sizeof *vm + count * sizeof vm->ops[0]);
    if (vm == NULL)
        return NULL;
    vm->count = count;
    for (unsigned i = 0; i < count; i++) {
        int h = handler_of(insns[i].code);
        if (h < 0) {
            free(vm);
            return NULL;
        }
        struct op *op = &vm->ops[i];
        op->handler = table[h];
        op->k = insns[i].k;
        op->jt = op->jf = NULL;
        if (BPF_CLASS(insns[i].code) == BPF_JMP) {
            /* bpf_validate has checked that every target lies inside the program */
            if (BPF_OP(insns[i].code) == BPF_JA) {
                op->jt = &vm->ops[i + 1 + insns[i].k];
            } else {
                op->jt = &vm->ops[i + 1 + insns[i].jt];
                op->jf = &vm->ops[i + 1 + insns[i].jf];
            }
        }
    }
    return vm;
}

unsigned bpf_vm_run(const bpf_vm_t *vm, const unsigned char *packet, uint32_t wirelen, uint32_t buflen)
{
    return execute(vm, packet, wirelen, buflen, NULL);
}

void bpf_vm_free(bpf_vm_t *vm)
{
    free(vm);
}
