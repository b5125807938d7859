/* mapi-stdlib's res2file functions, as cffi and the engine see them (declarations only; code in res2file.c). */

int mapi_abi_version(void);
