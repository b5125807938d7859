/* mapi-stdlib's sampling functions, as cffi and the engine see them (declarations only; code in sampling.c). */

int mapi_abi_version(void);
