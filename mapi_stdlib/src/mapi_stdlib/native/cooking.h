/* mapi-stdlib's cooking functions, as cffi and the engine see them (declarations only; code in cooking.c). */

int mapi_abi_version(void);
