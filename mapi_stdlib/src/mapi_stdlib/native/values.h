/* mapi-stdlib's values functions, as cffi and the engine see them (declarations only; code in values.c). */

int mapi_abi_version(void);
