/*
 * Two devices, one local relay, from C: a snippet written on the laptop
 * shows up on the desktop. Each device is an AzmxSyncEngine (its own state
 * directory) with an in-memory C store; the engines use the built-in HTTP
 * transport.
 *
 *   usage: two_devices RELAY_URL LICENSE_ID     (license key in AZMX_LICENSE_KEY)
 *
 * `./examples/c/two_devices.sh` starts a relay with a fresh license, builds
 * and runs this (see the Makefile and the README's C section).
 */
#define _GNU_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azmx_sync.h"

/* ---- the host's store: records by (scope, id), tombstones kept ----------
 * Not thread-safe: fine here because this program never calls
 * azmx_engine_start (then callbacks run only inside our own calls). */
typedef struct {
  char *scope, *id, *json;
} Record;

typedef struct {
  Record recs[64];
  size_t n;
} Store;

static void store_put(Store *s, const char *scope, const char *id, const char *json) {
  for (size_t i = 0; i < s->n; i++) {
    int same_scope = (!scope && !s->recs[i].scope) ||
                     (scope && s->recs[i].scope && strcmp(scope, s->recs[i].scope) == 0);
    if (same_scope && strcmp(id, s->recs[i].id) == 0) {
      free(s->recs[i].json);
      s->recs[i].json = strdup(json);
      return;
    }
  }
  if (s->n == 64) return;
  s->recs[s->n++] = (Record){scope ? strdup(scope) : NULL, strdup(id), strdup(json)};
}

static void store_clear(Store *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->recs[i].scope);
    free(s->recs[i].id);
    free(s->recs[i].json);
  }
  s->n = 0;
}

/* snapshot: every record as one JSON array. */
static int32_t store_snapshot(void *user_data, AzmxSnapshotOut *out) {
  Store *s = user_data;
  size_t len = 3;
  for (size_t i = 0; i < s->n; i++) len += strlen(s->recs[i].json) + 1;
  char *buf = malloc(len), *p = buf;
  *p++ = '[';
  for (size_t i = 0; i < s->n; i++) p += sprintf(p, "%s%s", i ? "," : "", s->recs[i].json);
  *p++ = ']';
  AzmxStatus st = azmx_snapshot_out_set(out, (const uint8_t *)buf, (size_t)(p - buf));
  free(buf);
  return st == AZMX_STATUS_OK ? 0 : 1;
}

/* apply: store each merged record (a delete's record is its tombstone). */
static int32_t store_apply(void *user_data, const AzmxChange *changes, size_t count) {
  Store *s = user_data;
  for (size_t i = 0; i < count; i++)
    store_put(s, changes[i].scope, changes[i].id, changes[i].record_json);
  return 0;
}

/* ---- the program ---------------------------------------------------------- */
static int fail(const char *what, AzmxStatus s) {
  fprintf(stderr, "%s failed: %s: %s\n", what, azmx_status_name(s), azmx_last_error_message());
  return 1;
}

typedef struct {
  const char *name;
  Store store;
  AzmxSyncEngine *engine;
  char device_id[160];
} Device;

static int open_device(Device *d, const char *url, const char *lid, const char *license_key) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/azmx-c-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           d->name);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  AzmxEngineConfig cfg = {.struct_size = sizeof cfg, /* lets later versions add fields */
                          .state_dir = dir, .relay_url = url, .license_id = lid,
                          .device_name = d->name, .transport = NULL /* built-in */};
  AzmxStatus s = azmx_engine_new(&cfg, &d->engine);
  if (s != AZMX_STATUS_OK) return fail("azmx_engine_new", s);
  AzmxStoreAdapter adapter = {&d->store, store_snapshot, store_apply};
  s = azmx_engine_register_store(d->engine, "snippets", &adapter);
  if (s != AZMX_STATUS_OK) return fail("register_store", s);

  AzmxBuffer id = {0};
  s = azmx_engine_register(d->engine, license_key, &id);
  if (s != AZMX_STATUS_OK) return fail("register", s);
  snprintf(d->device_id, sizeof d->device_id, "%s", (const char *)id.ptr);
  azmx_buffer_free(&id);

  /* The receipt: the library wipes this buffer; it is never stored. */
  char receipt[] = "RCPT-example-7F3A-99C2";
  s = azmx_engine_set_receipt(d->engine, (uint8_t *)receipt, strlen(receipt));
  if (s != AZMX_STATUS_OK) return fail("set_receipt", s);
  s = azmx_engine_verify_receipt(d->engine);
  if (s != AZMX_STATUS_OK) return fail("verify_receipt", s);
  printf("%s: registered as %s (state in %s)\n", d->name, d->device_id, dir);
  return 0;
}

int main(int argc, char **argv) {
  const char *license_key = getenv("AZMX_LICENSE_KEY");
  if (argc != 3 || !license_key) {
    fprintf(stderr, "usage: AZMX_LICENSE_KEY=KEY %s RELAY_URL LICENSE_ID\n", argv[0]);
    return 2;
  }
  const char *url = argv[1], *lid = argv[2];
  printf("libazmx_sync %s, relay at %s\n", azmx_version(), url);

  Device laptop = {.name = "laptop"}, desktop = {.name = "desktop"};
  int rc = 1;
  if (open_device(&laptop, url, lid, license_key) || open_device(&desktop, url, lid, license_key))
    goto out;

  /* The laptop writes a snippet: a record of the built-in snippets store. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char json[512];
  snprintf(json, sizeof json,
           "{\"id\":\"greeting\",\"scope\":\"alice\",\"updatedAt\":%lld,\"deviceId\":\"%s\","
           "\"body\":{\"text\":\"hello from the laptop\"}}",
           (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, laptop.device_id);
  store_put(&laptop.store, "alice", "greeting", json);

  AzmxCycleReport r;
  AzmxStatus s = azmx_engine_sync_now(laptop.engine, &r);
  if (s != AZMX_STATUS_OK) {
    fail("laptop sync", s);
    goto out;
  }
  printf("laptop sync: pushed seq %lld, %llu record(s), %llu sealed bytes\n",
         (long long)r.pushed_seq, (unsigned long long)r.pushed_records,
         (unsigned long long)r.sealed_bytes);
  s = azmx_engine_sync_now(desktop.engine, &r);
  if (s != AZMX_STATUS_OK) {
    fail("desktop sync", s);
    goto out;
  }
  printf("desktop sync: pulled %llu blob(s), applied %llu change(s)\n",
         (unsigned long long)r.pulled_blobs, (unsigned long long)r.applied_changes);

  for (size_t i = 0; i < desktop.store.n; i++)
    printf("desktop sees: %s\n", desktop.store.recs[i].json);
  rc = desktop.store.n == 1 && strstr(desktop.store.recs[0].json, "hello from the laptop") ? 0 : 1;
  if (rc) fprintf(stderr, "the desktop did not receive the snippet\n");

out:
  azmx_engine_free(laptop.engine);
  azmx_engine_free(desktop.engine);
  store_clear(&laptop.store);
  store_clear(&desktop.store);
  return rc;
}
