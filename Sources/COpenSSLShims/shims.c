#include "COpenSSLShims.h"

void COpenSSLShims_free(void *pointer) { OPENSSL_free(pointer); }

long COpenSSLShims_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

EVP_PKEY *COpenSSLShims_EVP_RSA_gen(unsigned int bits) { return EVP_RSA_gen(bits); }
