/*
 * The C declarations Python sees (cffi's cdef) and functions.c includes: keep them plain C, with no
 * preprocessor lines, so that cffi can parse them.
 */

int mapi_abi_version(void);

/* {{ cookiecutter.function_name }}'s result: the bytes a read returns, in the flow's result memory. */
struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_result {
    uint64_t packets;        /* packets with a port in [low, high] */
    uint64_t bytes;          /* their wire length (hdr->wlen), not the captured length */
};

/* {{ cookiecutter.function_name }}'s state: what init() hands to process(). */
struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }} {
    uint16_t low;
    uint16_t high;
    struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_result *result;
};

int {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
