#ifndef COPENSSL_SHIMS_H
#define COPENSSL_SHIMS_H
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

// OPENSSL_free is a macro (it passes __FILE__/__LINE__ to CRYPTO_free).
void COpenSSLShims_free(void *pointer);
// BIO_get_mem_data is a macro over BIO_ctrl.
long COpenSSLShims_BIO_get_mem_data(BIO *bio, char **data);
// EVP_RSA_gen is a variadic macro over EVP_PKEY_Q_keygen.
EVP_PKEY *COpenSSLShims_EVP_RSA_gen(unsigned int bits);
#endif
