/*
 * C tests of libazmx_sync's C ABI (include/azmx_sync.h), run by
 * scripts/test.d/20-c.sh against the static and the shared library, and
 * once under valgrind. Every entry point of the header is exercised (the
 * script checks that each name appears here), with every reachable status.
 *
 * Prints one line per failed check and a final "c tests: N passed, M failed".
 */
#define _GNU_SOURCE /* memmem, mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "azmx_sync.h"

#include "check.h"

#define EMPTY_BUF(b) ((b).ptr == NULL && (b).len == 0 && (b).cap == 0)

/* ---- the published vectors (tests/vectors/wire-v1.json) --------------- */
static const char *KDF_RECEIPT = "correct horse battery staple";
static const char *KDF_LID = "lic_0001";
static const char *KDF_KEY_HEX =
    "56bf7a17a4dadfc3d107c17eb5b020208dd927f23083278f2c2def71a37afc55";
static const char *SIG_CANONICAL =
    "push|dev_a1b2c3|1|d1b9d7dcab4ef43e0f9dd446f230f3eb21eb3f1c83ef14dbda341bdc7b5a0226|"
    "1764288000";
static const int64_t SIG_TS = 1764288000;
static const char *SIG_PUBLIC_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";
static const char *SIG_SIGNATURE =
    "DMf4oQoNGDvOyQME8-6F0qY8jtsqspZnt-clLKFrAKvaczCmcXn63SjOaB_CgVuM4abiskYiVNomIBLzPnceDA";
static const char *SHA_EMPTY =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char *SHA_ABC =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/* ---- helpers ------------------------------------------------------------ */
static void hex_decode(const char *hex, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
}

static void hex_encode(const uint8_t *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", in[i]);
  out[2 * n] = 0;
}

static void b64url_encode(const uint8_t *in, size_t n, char *out) {
  static const char *A =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = A[(v >> 18) & 63];
    out[o++] = A[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = A[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = A[v & 63];
  }
  out[o] = 0;
}

/* Does `hay` contain `secret` as raw bytes, lowercase/uppercase hex or base64url? */
static int leaks(const uint8_t *hay, size_t hay_len, const uint8_t *secret, size_t n) {
  char hex[2 * 64 + 1], b64[90];
  if (hay == NULL || hay_len == 0) return 0;
  hex_encode(secret, n, hex);
  b64url_encode(secret, n, b64);
  if (memmem(hay, hay_len, secret, n)) return 1;
  if (memmem(hay, hay_len, hex, strlen(hex))) return 1;
  for (char *p = hex; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
  if (memmem(hay, hay_len, hex, strlen(hex))) return 1;
  /* A 16-byte window of the secret in base64url (alignment-independent
   * enough for our fixed-position outputs). */
  if (memmem(hay, hay_len, b64, 20)) return 1;
  return 0;
}

static int leaks_str(const char *s, const uint8_t *secret, size_t n) {
  return leaks((const uint8_t *)s, strlen(s), secret, n);
}

static int is_b64url(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = (char)p[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_'))
      return 0;
  }
  return 1;
}

static int has(const AzmxBuffer *b, const char *needle) {
  return b->ptr != NULL && strstr((const char *)b->ptr, needle) != NULL;
}

/* Derives into a fresh handle; the receipt is copied into a writable buffer. */
static AzmxStatus derive(const char *receipt, const char *lid, AzmxEnvelopeKey **out) {
  size_t n = strlen(receipt);
  uint8_t *copy = malloc(n + 1);
  memcpy(copy, receipt, n + 1);
  AzmxStatus s = azmx_envelope_key_derive(copy, n, lid, out);
  free(copy);
  return s;
}

static uint8_t secret_key[32]; /* the vector key, to scan outputs for */

/* ---- tests -------------------------------------------------------------- */

static void test_meta(void) {
  CHECK(strcmp(azmx_version(), "") != 0);
  CHECK(strcmp(azmx_status_name(AZMX_STATUS_OK), "OK") == 0);
  CHECK(strcmp(azmx_status_name(AZMX_STATUS_DECRYPT_FAILED), "DECRYPT_FAILED") == 0);
  CHECK(strcmp(azmx_status_name(AZMX_STATUS_BLOB_INTEGRITY), "BLOB_INTEGRITY") == 0);
  CHECK(strcmp(azmx_status_name(AZMX_STATUS_PANIC), "PANIC") == 0);
  CHECK(strcmp(azmx_status_name(-1), "UNKNOWN") == 0);
  CHECK(strcmp(azmx_status_name(4), "UNKNOWN") == 0);
  CHECK(strcmp(azmx_status_name(100000), "UNKNOWN") == 0);
  CHECK(azmx_sealed_len(0) == AZMX_ENVELOPE_OVERHEAD);
  CHECK(azmx_sealed_len(100) == 129);
  CHECK(azmx_sealed_len(SIZE_MAX) == 0);
  CHECK(azmx_last_error_message() != NULL);
}

static void test_derive(AzmxEnvelopeKey **k, AzmxEnvelopeKey **wrong) {
  uint8_t buf[64];
  size_t n = strlen(KDF_RECEIPT);
  memcpy(buf, KDF_RECEIPT, n);
  *k = (AzmxEnvelopeKey *)0x1; /* must be overwritten */
  CHECK_STATUS(azmx_envelope_key_derive(buf, n, KDF_LID, k), AZMX_STATUS_OK);
  CHECK(*k != NULL);
  int all_zero = 1;
  for (size_t i = 0; i < n; i++) all_zero &= buf[i] == 0;
  CHECK(all_zero); /* the receipt buffer is wiped after derive */
  CHECK(strcmp(azmx_last_error_message(), "") == 0);

  CHECK_STATUS(derive("another receipt", KDF_LID, wrong), AZMX_STATUS_OK);

  /* Errors (none of them runs PBKDF2). */
  AzmxEnvelopeKey *e = (AzmxEnvelopeKey *)0x1;
  memcpy(buf, "secret-receipt", 14);
  CHECK_STATUS(azmx_envelope_key_derive(buf, 14, NULL, &e), AZMX_STATUS_NULL_POINTER);
  CHECK(e == NULL);
  CHECK(buf[0] == 0 && buf[13] == 0); /* wiped on failure too */
  memcpy(buf, "secret-receipt", 14);
  CHECK_STATUS(azmx_envelope_key_derive(buf, 14, KDF_LID, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK(buf[0] == 0 && buf[13] == 0);
  CHECK_STATUS(azmx_envelope_key_derive(NULL, 5, KDF_LID, &e), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_derive(NULL, 0, KDF_LID, &e), AZMX_STATUS_EMPTY_RECEIPT);
  CHECK_STATUS(derive(" \t\r\n ", KDF_LID, &e), AZMX_STATUS_EMPTY_RECEIPT);
  CHECK(e == NULL);
  CHECK_STATUS(derive("r", "", &e), AZMX_STATUS_EMPTY_LICENSE_ID);
  uint8_t bad_utf8[] = {'r', 0xff, 0xfe};
  CHECK_STATUS(azmx_envelope_key_derive(bad_utf8, 3, KDF_LID, &e),
               AZMX_STATUS_INVALID_ARGUMENT);
  CHECK(bad_utf8[1] == 0);
  CHECK(!leaks_str(azmx_last_error_message(), (const uint8_t *)"secret-receipt", 14));
  CHECK(strstr(azmx_last_error_message(), "receipt") != NULL);
}

static void test_seal_open(const AzmxEnvelopeKey *k, const AzmxEnvelopeKey *wrong) {
  const char *pt = "hello, snippet";
  size_t n = strlen(pt);
  AzmxBuffer blob = {0}, blob2 = {0}, out = {(uint8_t *)0x1, 7, 7};

  CHECK_STATUS(azmx_envelope_key_seal(k, (const uint8_t *)pt, n, &blob), AZMX_STATUS_OK);
  CHECK(blob.len == n + AZMX_ENVELOPE_OVERHEAD);
  CHECK(blob.ptr[0] == AZMX_ENVELOPE_VERSION);
  CHECK(!leaks(blob.ptr, blob.len, secret_key, 32));
  CHECK(!leaks(blob.ptr, blob.len, (const uint8_t *)pt, n));
  CHECK_STATUS(azmx_envelope_key_seal(k, (const uint8_t *)pt, n, &blob2), AZMX_STATUS_OK);
  CHECK(blob2.len == blob.len && memcmp(blob.ptr, blob2.ptr, blob.len) != 0); /* fresh IV */

  CHECK_STATUS(azmx_envelope_key_open(k, blob.ptr, blob.len, &out), AZMX_STATUS_OK);
  CHECK(out.len == n && memcmp(out.ptr, pt, n) == 0);
  azmx_buffer_free(&out);
  CHECK(EMPTY_BUF(out));

  /* Wrong receipt: DECRYPT_FAILED, out reset. */
  out.ptr = (uint8_t *)0x1;
  CHECK_STATUS(azmx_envelope_key_open(wrong, blob.ptr, blob.len, &out),
               AZMX_STATUS_DECRYPT_FAILED);
  CHECK(EMPTY_BUF(out));
  CHECK(strstr(azmx_last_error_message(), "authentication") != NULL);
  CHECK(!leaks_str(azmx_last_error_message(), secret_key, 32));

  /* Every single tampered byte is caught (version byte: UNSUPPORTED_VERSION). */
  int all_caught = 1;
  for (size_t i = 0; i < blob.len; i++) {
    blob.ptr[i] ^= 0x01;
    AzmxStatus s = azmx_envelope_key_open(k, blob.ptr, blob.len, &out);
    all_caught &= (i == 0 ? s == AZMX_STATUS_UNSUPPORTED_VERSION : s == AZMX_STATUS_DECRYPT_FAILED);
    all_caught &= EMPTY_BUF(out);
    blob.ptr[i] ^= 0x01;
  }
  CHECK(all_caught);

  /* Short and version errors. */
  uint8_t small[AZMX_ENVELOPE_OVERHEAD] = {1};
  CHECK_STATUS(azmx_envelope_key_open(k, small, AZMX_ENVELOPE_OVERHEAD - 1, &out),
               AZMX_STATUS_ENVELOPE_TOO_SHORT);
  CHECK_STATUS(azmx_envelope_key_open(k, NULL, 0, &out), AZMX_STATUS_ENVELOPE_TOO_SHORT);
  small[0] = 2;
  CHECK_STATUS(azmx_envelope_key_open(k, small, sizeof small, &out),
               AZMX_STATUS_UNSUPPORTED_VERSION);
  CHECK(strstr(azmx_last_error_message(), "0x02") != NULL);
  small[0] = 1;
  CHECK_STATUS(azmx_envelope_key_open(k, small, sizeof small, &out), AZMX_STATUS_DECRYPT_FAILED);

  /* Empty plaintext round trip (NULL, 0). */
  AzmxBuffer eb = {0};
  CHECK_STATUS(azmx_envelope_key_seal(k, NULL, 0, &eb), AZMX_STATUS_OK);
  CHECK(eb.len == AZMX_ENVELOPE_OVERHEAD);
  CHECK_STATUS(azmx_envelope_key_open(k, eb.ptr, eb.len, &out), AZMX_STATUS_OK);
  CHECK(out.len == 0);
  azmx_buffer_free(&out);
  azmx_buffer_free(&eb);

  /* NULL pointers. */
  CHECK_STATUS(azmx_envelope_key_seal(NULL, (const uint8_t *)pt, n, &out),
               AZMX_STATUS_NULL_POINTER);
  CHECK(EMPTY_BUF(out));
  CHECK_STATUS(azmx_envelope_key_seal(k, NULL, 3, &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_seal(k, (const uint8_t *)pt, n, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open(NULL, blob.ptr, blob.len, &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open(k, NULL, 40, &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open(k, blob.ptr, blob.len, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK(strstr(azmx_last_error_message(), "out_plaintext") != NULL);

  azmx_buffer_free(&blob);
  azmx_buffer_free(&blob2);
  azmx_buffer_free(&blob); /* double free of a reset buffer is a no-op */
  azmx_buffer_free(NULL);
}

static void test_text(const AzmxEnvelopeKey *k, const AzmxEnvelopeKey *wrong) {
  const char *pt = "{\"v\":1}";
  AzmxBuffer text = {0}, out = {0};
  CHECK_STATUS(azmx_envelope_key_seal_text(k, (const uint8_t *)pt, strlen(pt), &text),
               AZMX_STATUS_OK);
  CHECK(text.ptr[text.len] == 0 && strlen((const char *)text.ptr) == text.len);
  CHECK(is_b64url(text.ptr, text.len));
  CHECK(text.len == (4 * (strlen(pt) + AZMX_ENVELOPE_OVERHEAD) + 2) / 3);
  CHECK(!leaks(text.ptr, text.len, secret_key, 32));
  CHECK_STATUS(azmx_envelope_key_open_text(k, (const char *)text.ptr, &out), AZMX_STATUS_OK);
  CHECK(out.len == strlen(pt) && memcmp(out.ptr, pt, out.len) == 0);
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_envelope_key_open_text(wrong, (const char *)text.ptr, &out),
               AZMX_STATUS_DECRYPT_FAILED);

  /* Base64 strictness: padding, standard alphabet, whitespace, non-UTF-8. */
  CHECK_STATUS(azmx_envelope_key_open_text(k, "AQ==", &out), AZMX_STATUS_INVALID_BASE64);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "+/8", &out), AZMX_STATUS_INVALID_BASE64);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "ab cd", &out), AZMX_STATUS_INVALID_BASE64);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "\xff\xfe", &out), AZMX_STATUS_INVALID_BASE64);
  /* Published invalid vector: padded text. */
  CHECK_STATUS(azmx_envelope_key_open_text(
                   k, "ATMzMzMzMzMzMzMzM_DiPzav4FVB15bh0u_hrkd5gMtAzzG1kBU=", &out),
               AZMX_STATUS_INVALID_BASE64);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "AQID", &out), AZMX_STATUS_ENVELOPE_TOO_SHORT);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "", &out), AZMX_STATUS_ENVELOPE_TOO_SHORT);
  /* Version 0x02 in text form. */
  CHECK_STATUS(azmx_envelope_key_open_text(k, "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgI", &out),
               AZMX_STATUS_UNSUPPORTED_VERSION);
  CHECK(EMPTY_BUF(out));

  CHECK_STATUS(azmx_envelope_key_seal_text(NULL, (const uint8_t *)pt, 1, &out),
               AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_seal_text(k, (const uint8_t *)pt, 1, NULL),
               AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_text(NULL, "AQ", &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_text(k, NULL, &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_text(k, "AQ", NULL), AZMX_STATUS_NULL_POINTER);
  azmx_buffer_free(&text);
}

static void test_into(const AzmxEnvelopeKey *k, const AzmxEnvelopeKey *wrong) {
  enum { N = 256 * 1024 };
  uint8_t *pt = malloc(N), *blob = malloc(N + AZMX_ENVELOPE_OVERHEAD), *back = malloc(N);
  for (size_t i = 0; i < N; i++) pt[i] = (uint8_t)(i * 31 + 7);
  size_t len = 12345;

  /* Size query, then too small, then exact. */
  CHECK_STATUS(azmx_envelope_key_seal_into(k, pt, N, NULL, 0, &len), AZMX_STATUS_BUFFER_TOO_SMALL);
  CHECK(len == azmx_sealed_len(N));
  CHECK_STATUS(azmx_envelope_key_seal_into(k, pt, N, blob, N, &len), AZMX_STATUS_BUFFER_TOO_SMALL);
  CHECK(len == N + AZMX_ENVELOPE_OVERHEAD);
  CHECK_STATUS(azmx_envelope_key_seal_into(k, pt, N, blob, N + AZMX_ENVELOPE_OVERHEAD, &len),
               AZMX_STATUS_OK);
  CHECK(len == N + AZMX_ENVELOPE_OVERHEAD && blob[0] == 1);
  CHECK(!leaks(blob, len, secret_key, 32));

  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, len, NULL, 0, &len),
               AZMX_STATUS_BUFFER_TOO_SMALL);
  CHECK(len == N);
  len = N + AZMX_ENVELOPE_OVERHEAD;
  size_t got = 99;
  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, len, back, N - 1, &got),
               AZMX_STATUS_BUFFER_TOO_SMALL);
  CHECK(got == N);
  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, len, back, N, &got), AZMX_STATUS_OK);
  CHECK(got == N && memcmp(back, pt, N) == 0);

  got = 99;
  CHECK_STATUS(azmx_envelope_key_open_into(wrong, blob, len, back, N, &got),
               AZMX_STATUS_DECRYPT_FAILED);
  CHECK(got == 0);
  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, 10, back, N, &got),
               AZMX_STATUS_ENVELOPE_TOO_SHORT);
  blob[0] = 9;
  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, len, back, N, &got),
               AZMX_STATUS_UNSUPPORTED_VERSION);
  blob[0] = 1;

  /* In place: the output may alias the input. */
  memcpy(back, pt, 1000);
  uint8_t *inplace = malloc(1000 + AZMX_ENVELOPE_OVERHEAD);
  memcpy(inplace, pt, 1000);
  CHECK_STATUS(azmx_envelope_key_seal_into(k, inplace, 1000, inplace, 1000 + AZMX_ENVELOPE_OVERHEAD,
                                           &got),
               AZMX_STATUS_OK);
  CHECK_STATUS(azmx_envelope_key_open_into(k, inplace, got, inplace, got, &got), AZMX_STATUS_OK);
  CHECK(got == 1000 && memcmp(inplace, pt, 1000) == 0);
  free(inplace);

  CHECK_STATUS(azmx_envelope_key_seal_into(NULL, pt, 1, blob, 100, &got), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_seal_into(k, pt, 1, blob, 100, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_seal_into(k, NULL, 1, blob, 100, &got), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_into(NULL, blob, len, back, N, &got),
               AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_into(k, blob, len, back, N, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_envelope_key_open_into(k, NULL, 40, back, N, &got), AZMX_STATUS_NULL_POINTER);
  free(pt);
  free(blob);
  free(back);
}

static void test_integrity(const AzmxEnvelopeKey *k) {
  char hex[AZMX_SHA256_HEX_LEN + 1];
  CHECK_STATUS(azmx_sha256_hex(NULL, 0, hex, sizeof hex), AZMX_STATUS_OK);
  CHECK(strcmp(hex, SHA_EMPTY) == 0);
  CHECK_STATUS(azmx_sha256_hex((const uint8_t *)"abc", 3, hex, sizeof hex), AZMX_STATUS_OK);
  CHECK(strcmp(hex, SHA_ABC) == 0);
  CHECK_STATUS(azmx_sha256_hex((const uint8_t *)"abc", 3, hex, 64), AZMX_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(azmx_sha256_hex((const uint8_t *)"abc", 3, NULL, 65), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_sha256_hex(NULL, 3, hex, 65), AZMX_STATUS_NULL_POINTER);

  /* The pull flow: verify sha first, so corruption is BLOB_INTEGRITY, not DECRYPT_FAILED. */
  AzmxBuffer blob = {0}, out = {0};
  CHECK_STATUS(azmx_envelope_key_seal(k, (const uint8_t *)"data", 4, &blob), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_sha256_hex(blob.ptr, blob.len, hex, sizeof hex), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_verify_blob(hex, blob.ptr, blob.len), AZMX_STATUS_OK);
  blob.ptr[blob.len - 1] ^= 0x80; /* storage corruption */
  CHECK_STATUS(azmx_verify_blob(hex, blob.ptr, blob.len), AZMX_STATUS_BLOB_INTEGRITY);
  CHECK(strstr(azmx_last_error_message(), hex) != NULL); /* names the expected digest */
  CHECK_STATUS(azmx_envelope_key_open(k, blob.ptr, blob.len, &out), AZMX_STATUS_DECRYPT_FAILED);
  CHECK_STATUS(azmx_verify_blob(SHA_EMPTY, NULL, 0), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_verify_blob("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                                NULL, 0),
               AZMX_STATUS_BLOB_INTEGRITY); /* uppercase is not the contract's form */
  CHECK_STATUS(azmx_verify_blob("e3b0", NULL, 0), AZMX_STATUS_BLOB_INTEGRITY);
  CHECK_STATUS(azmx_verify_blob("\xff", NULL, 0), AZMX_STATUS_BLOB_INTEGRITY);
  CHECK_STATUS(azmx_verify_blob(NULL, NULL, 0), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_verify_blob(SHA_EMPTY, NULL, 1), AZMX_STATUS_NULL_POINTER);
  azmx_buffer_free(&blob);
}

static char tmpdir[256];

static void write_file(const char *path, const uint8_t *data, size_t n, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0 || write(fd, data, n) != (ssize_t)n) perror("write_file");
  close(fd);
  chmod(path, mode);
}

static void test_identity(void) {
  char path[512], other[512];
  snprintf(path, sizeof path, "%s/device.key", tmpdir);
  AzmxDeviceIdentity *id = (AzmxDeviceIdentity *)0x1, *id2 = NULL;
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id), AZMX_STATUS_OK);
  CHECK(id != NULL);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 48);

  AzmxBuffer pk = {0}, pk2 = {0}, fp = {0}, sig = {0};
  CHECK_STATUS(azmx_device_identity_public_key(id, &pk), AZMX_STATUS_OK);
  CHECK(pk.len == 43 && is_b64url(pk.ptr, pk.len) && pk.ptr[43] == 0);
  CHECK_STATUS(azmx_device_identity_fingerprint(id, &fp), AZMX_STATUS_OK);
  CHECK(fp.len == 19 && fp.ptr[4] == '-' && fp.ptr[9] == '-' && fp.ptr[14] == '-');

  /* Reload: same identity. */
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id2), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_device_identity_public_key(id2, &pk2), AZMX_STATUS_OK);
  CHECK(pk2.len == pk.len && memcmp(pk.ptr, pk2.ptr, pk.len) == 0);
  azmx_device_identity_free(id2);

  /* Sign, verify, skew, bad signature, malformed. */
  char canonical[256], tampered[256];
  int64_t now = (int64_t)time(NULL);
  snprintf(canonical, sizeof canonical, "push|dev_1|7|%s|%lld", SHA_ABC, (long long)now);
  snprintf(tampered, sizeof tampered, "push|dev_1|8|%s|%lld", SHA_ABC, (long long)now);
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, canonical, &sig), AZMX_STATUS_OK);
  CHECK(sig.len == 86 && is_b64url(sig.ptr, sig.len));
  const char *pks = (const char *)pk.ptr, *sigs = (const char *)sig.ptr;
  CHECK_STATUS(azmx_verify(pks, canonical, sigs, now, AZMX_MAX_SKEW_SECS), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_verify(pks, canonical, sigs, now + 300, AZMX_MAX_SKEW_SECS), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_verify(pks, canonical, sigs, now + 301, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_CLOCK_SKEW);
  CHECK(strstr(azmx_last_error_message(), "-301") != NULL);
  CHECK_STATUS(azmx_verify(pks, canonical, sigs, now - 301, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_CLOCK_SKEW);
  CHECK_STATUS(azmx_verify(pks, tampered, sigs, now, AZMX_MAX_SKEW_SECS), AZMX_STATUS_BAD_SIGNATURE);
  CHECK_STATUS(azmx_verify(SIG_PUBLIC_KEY, canonical, sigs, now, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_BAD_SIGNATURE);
  CHECK_STATUS(azmx_verify(pks, canonical, "AAAA", now, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_BAD_SIGNATURE);
  CHECK_STATUS(azmx_verify("not-a-key", canonical, sigs, now, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_MALFORMED_FIELD);
  CHECK_STATUS(azmx_verify(pks, "push|a|b", sigs, now, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_MALFORMED_FIELD);
  CHECK_STATUS(azmx_verify(NULL, canonical, sigs, now, 300), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_verify(pks, NULL, sigs, now, 300), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_verify(pks, canonical, NULL, now, 300), AZMX_STATUS_NULL_POINTER);

  /* Not a signing oracle: only pinned canonical forms are signed. */
  AzmxBuffer junk = {(uint8_t *)0x1, 1, 1};
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, "anything goes", &junk),
               AZMX_STATUS_MALFORMED_FIELD);
  CHECK(EMPTY_BUF(junk));
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, "push|a|b|c|1", &junk),
               AZMX_STATUS_MALFORMED_FIELD);
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, "devices|a b|1", &junk),
               AZMX_STATUS_MALFORMED_FIELD);

  /* No output carries the private seed (bytes 8..40 of the key file). */
  uint8_t file[48];
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL && fread(file, 1, 48, f) == 48);
  if (f) fclose(f);
  const uint8_t *seed = file + 8;
  CHECK(!leaks(pk.ptr, pk.len, seed, 32));
  CHECK(!leaks(fp.ptr, fp.len, seed, 32));
  CHECK(!leaks(sig.ptr, sig.len, seed, 32));

  /* NULL handles and out-parameters. */
  CHECK_STATUS(azmx_device_identity_public_key(NULL, &junk), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_public_key(id, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_fingerprint(NULL, &junk), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_fingerprint(id, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_sign_canonical(NULL, canonical, &junk),
               AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, NULL, &junk), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_sign_canonical(id, canonical, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_load_or_create(NULL, &id2), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_load_or_create(path, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_device_identity_load_or_create("", &id2), AZMX_STATUS_INVALID_ARGUMENT);
  azmx_device_identity_free(id);
  azmx_device_identity_free(NULL);

  /* World/group-readable key file: KEY_FILE, and the message says so. */
  chmod(path, 0644);
  id2 = (AzmxDeviceIdentity *)0x1;
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id2), AZMX_STATUS_KEY_FILE);
  CHECK(id2 == NULL);
  CHECK(strstr(azmx_last_error_message(), "0644") != NULL);
  CHECK(strstr(azmx_last_error_message(), "device.key") != NULL);
  CHECK(!leaks_str(azmx_last_error_message(), seed, 32));
  chmod(path, 0640);
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id2), AZMX_STATUS_KEY_FILE);
  chmod(path, 0600);

  /* Corrupt (bit flip) and truncated files, missing directory. */
  file[20] ^= 1;
  write_file(path, file, 48, 0600);
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id2), AZMX_STATUS_KEY_FILE);
  CHECK(strstr(azmx_last_error_message(), "corrupt") != NULL);
  file[20] ^= 1;
  write_file(path, file, 47, 0600);
  CHECK_STATUS(azmx_device_identity_load_or_create(path, &id2), AZMX_STATUS_KEY_FILE);
  snprintf(other, sizeof other, "%s/missing-dir/device.key", tmpdir);
  CHECK_STATUS(azmx_device_identity_load_or_create(other, &id2), AZMX_STATUS_KEY_FILE);
  CHECK(id2 == NULL);

  /* Known answer: the published signature vector, from a key file built here. */
  uint8_t vec[48];
  memcpy(vec, "AZMXDK01", 8);
  memset(vec + 8, 0x01, 32);
  char sum[65];
  CHECK_STATUS(azmx_sha256_hex(vec, 40, sum, sizeof sum), AZMX_STATUS_OK);
  hex_decode(sum, vec + 40, 8);
  snprintf(other, sizeof other, "%s/vector.key", tmpdir);
  write_file(other, vec, 48, 0600);
  AzmxDeviceIdentity *vid = NULL;
  AzmxBuffer vpk = {0}, vsig = {0};
  CHECK_STATUS(azmx_device_identity_load_or_create(other, &vid), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_device_identity_public_key(vid, &vpk), AZMX_STATUS_OK);
  CHECK(vpk.ptr && strcmp((const char *)vpk.ptr, SIG_PUBLIC_KEY) == 0);
  CHECK_STATUS(azmx_device_identity_sign_canonical(vid, SIG_CANONICAL, &vsig), AZMX_STATUS_OK);
  CHECK(vsig.ptr && strcmp((const char *)vsig.ptr, SIG_SIGNATURE) == 0);
  CHECK_STATUS(azmx_verify(SIG_PUBLIC_KEY, SIG_CANONICAL, SIG_SIGNATURE, SIG_TS, AZMX_MAX_SKEW_SECS),
               AZMX_STATUS_OK);
  azmx_device_identity_free(vid);

  azmx_buffer_free(&pk);
  azmx_buffer_free(&pk2);
  azmx_buffer_free(&fp);
  azmx_buffer_free(&sig);
  azmx_buffer_free(&vpk);
  azmx_buffer_free(&vsig);
  unlink(path);
  unlink(other);
}

static void test_merge(void) {
  AzmxBuffer out = {0};
  const char *local =
      "[{\"id\":\"s0\",\"scope\":\"me\",\"updatedAt\":5,\"deviceId\":\"a\",\"body\":\"local only\"},"
      " {\"id\":\"s1\",\"scope\":\"me\",\"updatedAt\":1,\"deviceId\":\"a\",\"body\":\"old\"}]";
  const char *incoming =
      "[{\"id\":\"s1\",\"scope\":\"me\",\"updatedAt\":2,\"deviceId\":\"b\",\"body\":\"new\"},"
      " {\"id\":\"s2\",\"scope\":\"me\",\"updatedAt\":1,\"deviceId\":\"b\",\"body\":\"x\"},"
      " {\"id\":\"s3\",\"updatedAt\":1,\"deviceId\":\"b\",\"body\":\"no scope\"}]";
  CHECK_STATUS(azmx_merge("snippets", local, incoming, &out), AZMX_STATUS_OK);
  CHECK(has(&out, "\"store\":\"snippets\""));
  CHECK(has(&out, "\"applied\":2"));
  CHECK(has(&out, "\"rejectedInvalid\":1"));
  CHECK(has(&out, "\"keptLocal\":0"));
  CHECK(has(&out, "\"code\":\"missingScope\""));
  CHECK(has(&out, "\"op\":\"update\""));
  CHECK(has(&out, "\"op\":\"insert\""));
  CHECK(has(&out, "local only")); /* additive: the local-only record is kept */
  CHECK(has(&out, "\"body\":\"new\"") && !has(&out, "\"body\":\"old\""));
  azmx_buffer_free(&out);

  /* Todos: an invalid incoming list is rejected, a valid one applied. */
  const char *todos =
      "[{\"id\":\"sess1\",\"updatedAt\":2,\"deviceId\":\"b\",\"body\":{\"items\":["
      "{\"id\":\"1\",\"content\":\"a\",\"status\":\"in_progress\"},"
      "{\"id\":\"2\",\"content\":\"b\",\"status\":\"in_progress\"}]}},"
      " {\"id\":\"sess2\",\"updatedAt\":2,\"deviceId\":\"b\",\"body\":{\"items\":["
      "{\"id\":\"1\",\"content\":\"ship\",\"status\":\"pending\"}]}}]";
  CHECK_STATUS(azmx_merge("todos", "[]", todos, &out), AZMX_STATUS_OK);
  CHECK(has(&out, "\"applied\":1") && has(&out, "\"rejectedInvalid\":1"));
  CHECK(has(&out, "\"code\":\"todo\"") && has(&out, "multipleInProgress"));
  CHECK(has(&out, "second in_progress"));
  azmx_buffer_free(&out);

  /* Memory: version beats time; missing version rejected. */
  const char *mem_local = "[{\"id\":\"m\",\"updatedAt\":9,\"version\":3,\"deviceId\":\"a\",\"body\":1}]";
  const char *mem_in =
      "[{\"id\":\"m\",\"updatedAt\":1,\"version\":4,\"deviceId\":\"b\",\"body\":2},"
      " {\"id\":\"n\",\"updatedAt\":1,\"deviceId\":\"b\",\"body\":2}]";
  CHECK_STATUS(azmx_merge("memory", mem_local, mem_in, &out), AZMX_STATUS_OK);
  CHECK(has(&out, "\"version\":4") && has(&out, "missingVersion"));
  azmx_buffer_free(&out);
  /* Tombstone wins and becomes a delete. */
  CHECK_STATUS(azmx_merge("memory", mem_local,
                          "[{\"id\":\"m\",\"updatedAt\":1,\"version\":5,\"deleted\":true,\"deviceId\":\"b\"}]",
                          &out),
               AZMX_STATUS_OK);
  CHECK(has(&out, "\"op\":\"delete\""));
  azmx_buffer_free(&out);

  /* Errors: unknown store, bad JSON (message never quotes the input). */
  CHECK_STATUS(azmx_merge("notes", "[]", "[]", &out), AZMX_STATUS_UNKNOWN_STORE);
  CHECK(EMPTY_BUF(out));
  CHECK_STATUS(azmx_merge("snippets", "[", "[]", &out), AZMX_STATUS_INVALID_JSON);
  CHECK(strstr(azmx_last_error_message(), "local_json") != NULL);
  CHECK_STATUS(azmx_merge("snippets", "[]", "[{\"id\":\"x\",\"updatedAt\":\"TOPSECRET\"}]", &out),
               AZMX_STATUS_INVALID_JSON);
  CHECK(strstr(azmx_last_error_message(), "TOPSECRET") == NULL);
  CHECK_STATUS(azmx_merge("snippets", "{}", "[]", &out), AZMX_STATUS_INVALID_JSON);
  CHECK_STATUS(azmx_merge("snippets", "[]", "\xff", &out), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_merge(NULL, "[]", "[]", &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_merge("snippets", NULL, "[]", &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_merge("snippets", "[]", NULL, &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_merge("snippets", "[]", "[]", NULL), AZMX_STATUS_NULL_POINTER);

  /* Host-registered stores. */
  const char *notes_in = "[{\"id\":\"n1\",\"updatedAt\":3,\"deviceId\":\"b\",\"body\":{\"t\":1}},"
                         " {\"id\":\"n2\",\"scope\":\"h\",\"updatedAt\":3,\"deviceId\":\"b\",\"body\":2}]";
  CHECK_STATUS(azmx_merge_custom("notes", AZMX_CONTRACT_LWW_BY_TIME, AZMX_SCOPE_RULE_ANY, "[]",
                                 notes_in, &out),
               AZMX_STATUS_OK);
  CHECK(has(&out, "\"store\":\"notes\"") && has(&out, "\"applied\":2"));
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_merge_custom("notes", AZMX_CONTRACT_LWW_BY_TIME, AZMX_SCOPE_RULE_REQUIRED,
                                 "[]", notes_in, &out),
               AZMX_STATUS_OK);
  CHECK(has(&out, "\"applied\":1") && has(&out, "missingScope"));
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_merge_custom("notes", AZMX_CONTRACT_LWW_BY_TIME, AZMX_SCOPE_RULE_FORBIDDEN,
                                 "[]", notes_in, &out),
               AZMX_STATUS_OK);
  CHECK(has(&out, "\"applied\":1") && has(&out, "unexpectedScope"));
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_merge_custom("counters", AZMX_CONTRACT_LWW_BY_VERSION, AZMX_SCOPE_RULE_ANY,
                                 "[]", notes_in, &out),
               AZMX_STATUS_OK);
  CHECK(has(&out, "\"rejectedInvalid\":2"));
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_merge_custom("lists", AZMX_CONTRACT_LWW_PER_GROUP, AZMX_SCOPE_RULE_ANY, "[]",
                                 notes_in, &out),
               AZMX_STATUS_OK);
  azmx_buffer_free(&out);
  CHECK_STATUS(azmx_merge_custom("Bad/Name", 0, 0, "[]", "[]", &out), AZMX_STATUS_INVALID_STORE_NAME);
  CHECK_STATUS(azmx_merge_custom("workspace-notes", 0, 0, "[]", "[]", &out),
               AZMX_STATUS_INVALID_STORE_NAME);
  CHECK_STATUS(azmx_merge_custom("snippets", 0, 0, "[]", "[]", &out), AZMX_STATUS_INVALID_STORE_NAME);
  CHECK_STATUS(azmx_merge_custom("notes", 7, 0, "[]", "[]", &out), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_merge_custom("notes", 0, 9, "[]", "[]", &out), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_merge_custom("notes", 0, 0, "[]", "nope", &out), AZMX_STATUS_INVALID_JSON);
  CHECK_STATUS(azmx_merge_custom(NULL, 0, 0, "[]", "[]", &out), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_merge_custom("notes", 0, 0, "[]", "[]", NULL), AZMX_STATUS_NULL_POINTER);
  CHECK(EMPTY_BUF(out));

  /* Todo invariants on their own. */
  CHECK_STATUS(azmx_validate_todos("{\"items\":[{\"id\":\"1\",\"content\":\"x\",\"status\":\"pending\"}]}"),
               AZMX_STATUS_OK);
  CHECK_STATUS(azmx_validate_todos("{\"items\":[{\"id\":\"1\",\"content\":\"SECRETTODO\",\"status\":\"pending\"},"
                                   "{\"id\":\"1\",\"content\":\"b\",\"status\":\"pending\"}]}"),
               AZMX_STATUS_INVALID_RECORD);
  CHECK(strstr(azmx_last_error_message(), "repeats the id of item 0") != NULL);
  CHECK(strstr(azmx_last_error_message(), "SECRETTODO") == NULL);
  CHECK_STATUS(azmx_validate_todos("{\"items\":[{\"id\":\"1\",\"content\":\"x\",\"status\":\"done\"}]}"),
               AZMX_STATUS_INVALID_RECORD);
  CHECK_STATUS(azmx_validate_todos("[]"), AZMX_STATUS_INVALID_RECORD);
  CHECK_STATUS(azmx_validate_todos("{"), AZMX_STATUS_INVALID_JSON);
  CHECK_STATUS(azmx_validate_todos(NULL), AZMX_STATUS_NULL_POINTER);
}

static void *thread_main(void *arg) {
  (void)arg;
  /* A fresh thread has no message, whatever the main thread did. */
  int ok = strcmp(azmx_last_error_message(), "") == 0;
  AzmxBuffer out = {0};
  ok &= azmx_merge("nope", "[]", "[]", &out) == AZMX_STATUS_UNKNOWN_STORE;
  ok &= strstr(azmx_last_error_message(), "no built-in store is named `nope`") != NULL;
  return ok ? (void *)1 : NULL;
}

static void test_thread_local_errors(void) {
  AzmxBuffer out = {0};
  CHECK_STATUS(azmx_merge("snippets", "[", "[]", &out), AZMX_STATUS_INVALID_JSON);
  pthread_t t;
  void *ret = NULL;
  CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
  CHECK(pthread_join(t, &ret) == 0 && ret == (void *)1);
  /* The main thread's message is untouched by the other thread. */
  CHECK(strstr(azmx_last_error_message(), "local_json") != NULL);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  hex_decode(KDF_KEY_HEX, secret_key, 32);
  snprintf(tmpdir, sizeof tmpdir, "%s/azmx-c-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }

  AzmxEnvelopeKey *k = NULL, *wrong = NULL;
  test_meta();
  test_derive(&k, &wrong);
  if (k == NULL || wrong == NULL) {
    fprintf(stderr, "derive failed; cannot continue\n");
    return 1;
  }
  test_seal_open(k, wrong);
  test_text(k, wrong);
  test_into(k, wrong);
  test_integrity(k);
  test_identity();
  test_merge();
  test_thread_local_errors();
  azmx_envelope_key_free(k);
  azmx_envelope_key_free(wrong);
  azmx_envelope_key_free(NULL);
  rmdir(tmpdir);

  printf("c tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
