/*
 * azmx-sync from C: derive the envelope key from a recovery receipt, seal a
 * snippet, check and open it, and sign the push request for it with this
 * device's ed25519 key. Build and run: `make run` (see Makefile / README).
 *
 *   usage: example [KEY_DIR]    (the device key is KEY_DIR/device.key, 0600;
 *                                default: a fresh temporary directory)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azmx_sync.h"

static int fail(const char *what, AzmxStatus s) {
  fprintf(stderr, "%s failed: %s: %s\n", what, azmx_status_name(s), azmx_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  char dir[256] = "/tmp/azmx-c-example-XXXXXX";
  int temp_dir = argc <= 1;
  if (argc > 1) {
    snprintf(dir, sizeof dir, "%s", argv[1]);
  } else if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  printf("libazmx_sync %s\n", azmx_version());

  /* 1. Derive (~100 ms). The receipt buffer is wiped by the call. */
  char receipt[] = "correct horse battery staple";
  AzmxEnvelopeKey *key = NULL;
  AzmxStatus s = azmx_envelope_key_derive((uint8_t *)receipt, strlen(receipt), "lic_0001", &key);
  if (s != AZMX_STATUS_OK) return fail("derive", s);
  printf("derived the envelope key (receipt buffer now wiped: %s)\n",
         receipt[0] == 0 ? "yes" : "no");

  /* 2. Seal a snippet; the text form is what travels. */
  const char *snippet = "{\"id\":\"s1\",\"scope\":\"me\",\"body\":\"git log --oneline\"}";
  AzmxBuffer blob = {0}, plain = {0}, pk = {0}, sig = {0};
  s = azmx_envelope_key_seal(key, (const uint8_t *)snippet, strlen(snippet), &blob);
  if (s != AZMX_STATUS_OK) return fail("seal", s);
  char sha[AZMX_SHA256_HEX_LEN + 1];
  azmx_sha256_hex(blob.ptr, blob.len, sha, sizeof sha);
  printf("sealed %zu plaintext bytes into a %zu-byte envelope, sha256 %s\n", strlen(snippet),
         blob.len, sha);

  /* 3. Pull side: verify the sha first (corruption != wrong key), then open. */
  s = azmx_verify_blob(sha, blob.ptr, blob.len);
  if (s != AZMX_STATUS_OK) return fail("verify_blob", s);
  s = azmx_envelope_key_open(key, blob.ptr, blob.len, &plain);
  if (s != AZMX_STATUS_OK) return fail("open", s);
  printf("opened: %.*s\n", (int)plain.len, (const char *)plain.ptr);

  /* 4. Sign the push canonical with the device key (created 0600 if missing). */
  char path[300];
  snprintf(path, sizeof path, "%s/device.key", dir);
  AzmxDeviceIdentity *id = NULL;
  s = azmx_device_identity_load_or_create(path, &id);
  if (s != AZMX_STATUS_OK) return fail("load_or_create", s);
  azmx_device_identity_public_key(id, &pk);
  char canonical[256];
  long long now = (long long)time(NULL);
  snprintf(canonical, sizeof canonical, "push|dev_example|1|%s|%lld", sha, now);
  s = azmx_device_identity_sign_canonical(id, canonical, &sig);
  if (s != AZMX_STATUS_OK) return fail("sign", s);
  printf("device public key %s\nsigned %s\nsignature %s\n", (const char *)pk.ptr, canonical,
         (const char *)sig.ptr);
  s = azmx_verify((const char *)pk.ptr, canonical, (const char *)sig.ptr, now, AZMX_MAX_SKEW_SECS);
  printf("relay-side verify: %s\n", azmx_status_name(s));

  /* 5. A wrong receipt is a typed error, not garbage. */
  char wrong[] = "not my receipt";
  AzmxEnvelopeKey *other = NULL;
  azmx_envelope_key_derive((uint8_t *)wrong, strlen(wrong), "lic_0001", &other);
  azmx_buffer_free(&plain);
  s = azmx_envelope_key_open(other, blob.ptr, blob.len, &plain);
  printf("open with another receipt: %s\n", azmx_status_name(s));

  azmx_buffer_free(&blob);
  azmx_buffer_free(&plain);
  azmx_buffer_free(&pk);
  azmx_buffer_free(&sig);
  azmx_device_identity_free(id);
  azmx_envelope_key_free(key);
  azmx_envelope_key_free(other);
  if (temp_dir) {
    unlink(path);
    rmdir(dir);
  }
  return 0;
}
