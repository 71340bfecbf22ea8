#ifndef COPENSSL_SHIMS_H
#define COPENSSL_SHIMS_H
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>

// OPENSSL_free is a macro (it passes __FILE__/__LINE__ to CRYPTO_free).
void COpenSSLShims_free(void *pointer);
// BIO_get_mem_data is a macro over BIO_ctrl.
long COpenSSLShims_BIO_get_mem_data(BIO *bio, char **data);
// EVP_RSA_gen is a variadic macro over EVP_PKEY_Q_keygen.
EVP_PKEY *COpenSSLShims_EVP_RSA_gen(unsigned int bits);
// A prime of `bits` (its top two bits set, so two of them multiply to 2 × bits) usable with e = 65537; NULL on
// failure. For the simulator's shared-prime PBX keys only (see Crypto's SharedPrimeRSA).
BIGNUM *COpenSSLShims_RSA_prime(int bits);
// The prime `hex` names, if it is one such a search could have returned (`bits` long, its top two bits set, prime
// by BN_check_prime, p - 1 coprime to 65537); NULL otherwise. For primes made ahead (the simulator's resource).
BIGNUM *COpenSSLShims_RSA_prime_from_hex(const char *hex, int bits);
// The RSA key of the distinct primes p and q with e = 65537 (CRT parameters included); NULL on failure.
EVP_PKEY *COpenSSLShims_RSA_from_primes(const BIGNUM *p, const BIGNUM *q);
#endif
