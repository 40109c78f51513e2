/* zipnet's pads in one native call: for each of n shared secrets, the pad key
 * HKDF-SHA256(salt, ikm = secret, info)[0:16] and its AES-128-CTR keystream from iv, XORed
 * into one vector in place -- the same bytes as dcnet.apply_pads' Python loop, without the
 * ~11 us of Python-level API work per client that loop pays (see `python -m bench zipnet`).
 *
 * All cryptography is OpenSSL's libcrypto (EVP_MAC HMAC-SHA256, EVP AES-128-CTR); this file
 * only sequences the calls. The salt's HMAC key schedule is set once per batch (every client
 * of a round shares it), and CTR's "XOR with the keystream" is EVP_EncryptUpdate in place.
 * Built at first use by organisms.zipnet.native (cc -O2 ... -lcrypto) and loaded with ctypes.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SHA256_LEN 32
#define PAD_KEY_LEN 16

/* 0 on success; -1 bad arguments; -2 an OpenSSL call failed. */
int zipnet_xor_pads(const unsigned char *secrets, size_t n, size_t secret_len,
                    const unsigned char *salt, size_t salt_len, const unsigned char *info,
                    size_t info_len, const unsigned char iv[16], unsigned char *vector,
                    size_t vector_len) {
    static const unsigned char one = 0x01;
    unsigned char prk[SHA256_LEN], t1[SHA256_LEN];
    size_t outl = 0;
    int len = 0, rc = -2;
    EVP_MAC *hmac = NULL;
    EVP_MAC_CTX *extract = NULL, *expand = NULL;
    EVP_CIPHER *aes = NULL;
    EVP_CIPHER_CTX *ctr = NULL;
    OSSL_PARAM params[2];

    if (vector_len > INT_MAX || secret_len == 0 || salt_len == 0) return -1;
    if (n == 0) return 0;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    aes = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
    if (hmac == NULL || aes == NULL) goto done;
    extract = EVP_MAC_CTX_new(hmac);
    expand = EVP_MAC_CTX_new(hmac);
    ctr = EVP_CIPHER_CTX_new();
    if (extract == NULL || expand == NULL || ctr == NULL) goto done;
    /* HKDF-Extract's key is the salt, the same for every client: set it up once. */
    if (!EVP_MAC_init(extract, salt, salt_len, params)) goto done;
    if (!EVP_MAC_CTX_set_params(expand, params)) goto done;
    if (!EVP_EncryptInit_ex2(ctr, aes, NULL, NULL, NULL)) goto done;

    for (size_t i = 0; i < n; i++) {
        const unsigned char *ikm = secrets + i * secret_len;
        /* a NULL key re-starts HMAC under the key already set (the salt) */
        if (i > 0 && !EVP_MAC_init(extract, NULL, 0, NULL)) goto done;
        if (!EVP_MAC_update(extract, ikm, secret_len)) goto done;
        if (!EVP_MAC_final(extract, prk, &outl, sizeof prk) || outl != SHA256_LEN) goto done;
        /* HKDF-Expand, one block: T(1) = HMAC(PRK, info || 0x01); the key is its first 16 B */
        if (!EVP_MAC_init(expand, prk, sizeof prk, NULL)) goto done;
        if (!EVP_MAC_update(expand, info, info_len)) goto done;
        if (!EVP_MAC_update(expand, &one, 1)) goto done;
        if (!EVP_MAC_final(expand, t1, &outl, sizeof t1) || outl != SHA256_LEN) goto done;
        if (!EVP_EncryptInit_ex2(ctr, NULL, t1, iv, NULL)) goto done;
        if (!EVP_EncryptUpdate(ctr, vector, &len, vector, (int)vector_len)) goto done;
        if ((size_t)len != vector_len) goto done;
    }
    rc = 0;
done:
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(t1, sizeof t1);
    EVP_CIPHER_CTX_free(ctr);
    EVP_MAC_CTX_free(expand);
    EVP_MAC_CTX_free(extract);
    EVP_CIPHER_free(aes);
    EVP_MAC_free(hmac);
    return rc;
}
