/* mapi-stdlib's search functions, as cffi and the engine see them (declarations only; code in search.c). */

int mapi_abi_version(void);
