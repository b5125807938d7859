/* mapi-stdlib's stats functions, as cffi and the engine see them (declarations only; code in stats.c). */

int mapi_abi_version(void);
