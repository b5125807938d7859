/* A plain libpcap loop: the packets (and wire bytes) of a pcap file that a BPF expression selects.
 *
 *     cc -O2 -o pcap_loop pcap_loop.c -lpcap
 *     ./pcap_loop FILE 'tcp and port 80'     -> {"packets": N, "bytes": B}
 *
 * The file is opened with pcap_open_offline, the expression compiled for its link type and
 * installed with pcap_setfilter (libpcap then runs the BPF program on each record before
 * pcap_next_ex returns it), and the loop sums the records and their wire lengths.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE EXPRESSION\n", argv[0]);
        return 2;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pcap = pcap_open_offline(argv[1], errbuf);
    if (pcap == NULL) {
        fprintf(stderr, "pcap_loop: %s\n", errbuf);
        return 1;
    }
    struct bpf_program program;
    if (pcap_compile(pcap, &program, argv[2], 1, PCAP_NETMASK_UNKNOWN) != 0
        || pcap_setfilter(pcap, &program) != 0) {
        fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(pcap));
        return 1;
    }
    pcap_freecode(&program);

    unsigned long long packets = 0, bytes = 0;
    struct pcap_pkthdr *header;
    const unsigned char *data;
    int status;
    while ((status = pcap_next_ex(pcap, &header, &data)) == 1) {
        packets++;
        bytes += header->len;
    }
    if (status == PCAP_ERROR) {
        fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(pcap));
        return 1;
    }
    pcap_close(pcap);
    printf("{\"packets\": %llu, \"bytes\": %llu}\n", packets, bytes);
    return 0;
}
