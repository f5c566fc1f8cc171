#ifndef APHEX_COPENSSL_SHIM_H
#define APHEX_COPENSSL_SHIM_H
#include <openssl/rand.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#endif
