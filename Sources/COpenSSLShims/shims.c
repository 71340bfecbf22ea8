#include "COpenSSLShims.h"
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <string.h>

void COpenSSLShims_free(void *pointer) { OPENSSL_free(pointer); }

long COpenSSLShims_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

EVP_PKEY *COpenSSLShims_EVP_RSA_gen(unsigned int bits) { return EVP_RSA_gen(bits); }

BIGNUM *COpenSSLShims_RSA_prime(int bits) {
    BIGNUM *p = BN_new(), *p1 = BN_new(), *g = BN_new(), *e = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *result = NULL;
    if (p && p1 && g && e && ctx && BN_set_word(e, RSA_F4)) {
        for (int tries = 0; tries < 100 && !result; tries++) {
            if (!BN_generate_prime_ex2(p, bits, 0, NULL, NULL, NULL, ctx)) break;
            if (BN_sub(p1, p, BN_value_one()) && BN_gcd(g, p1, e, ctx) && BN_is_one(g)) result = p;
        }
    }
    if (!result) BN_free(p);
    BN_free(p1);
    BN_free(g);
    BN_free(e);
    BN_CTX_free(ctx);
    return result;
}

BIGNUM *COpenSSLShims_RSA_prime_from_hex(const char *hex, int bits) {
    BIGNUM *p = NULL, *p1 = BN_new(), *g = BN_new(), *e = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    // BN_hex2bn returns how many characters it read: all of them, or the text is not one number.
    int ok = p1 && g && e && ctx && BN_set_word(e, RSA_F4) && BN_hex2bn(&p, hex) == (int)strlen(hex)
        && BN_num_bits(p) == bits && BN_is_bit_set(p, bits - 2) && BN_check_prime(p, ctx, NULL) == 1
        && BN_sub(p1, p, BN_value_one()) && BN_gcd(g, p1, e, ctx) && BN_is_one(g);
    if (!ok) {
        BN_free(p);
        p = NULL;
    }
    BN_free(p1);
    BN_free(g);
    BN_free(e);
    BN_CTX_free(ctx);
    return p;
}

EVP_PKEY *COpenSSLShims_RSA_from_primes(const BIGNUM *p, const BIGNUM *q) {
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *n = BN_new(), *e = BN_new(), *d = BN_new(), *p1 = BN_new(), *q1 = BN_new(), *g = BN_new(),
           *lcm = BN_new(), *phi = BN_new(), *dp = BN_new(), *dq = BN_new(), *qinv = BN_new();
    OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *key = NULL;
    // d = e⁻¹ mod lcm(p − 1, q − 1), as RSA key generation computes it; the CRT parameters from d.
    int ok = ctx && n && e && d && p1 && q1 && g && lcm && phi && dp && dq && qinv && build
        && BN_cmp(p, q) != 0 && BN_set_word(e, RSA_F4) && BN_mul(n, p, q, ctx)
        && BN_sub(p1, p, BN_value_one()) && BN_sub(q1, q, BN_value_one()) && BN_mul(phi, p1, q1, ctx)
        && BN_gcd(g, p1, q1, ctx) && BN_div(lcm, NULL, phi, g, ctx) && BN_mod_inverse(d, e, lcm, ctx)
        && BN_mod(dp, d, p1, ctx) && BN_mod(dq, d, q1, ctx) && BN_mod_inverse(qinv, q, p, ctx)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_D, d)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_FACTOR1, p)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_FACTOR2, q)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq)
        && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv)
        && (params = OSSL_PARAM_BLD_to_param(build)) != NULL
        && (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL
        && EVP_PKEY_fromdata_init(pctx) > 0;
    if (ok && EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) <= 0) key = NULL;
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(build);
    BN_free(n); BN_free(e); BN_clear_free(d); BN_free(p1); BN_free(q1); BN_free(g); BN_free(lcm); BN_free(phi);
    BN_clear_free(dp); BN_clear_free(dq); BN_clear_free(qinv);
    BN_CTX_free(ctx);
    return key;
}
