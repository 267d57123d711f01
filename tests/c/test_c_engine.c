/*
 * C tests of the sync engine in libazmx_sync's C ABI (azmx_engine_*), run
 * by scripts/test.d/20-c.sh against the static and the shared library and
 * once under valgrind, with a real relay on loopback:
 *
 *   AZMX_TEST_RELAY_URL=http://127.0.0.1:PORT AZMX_TEST_LICENSE_ID=lic_x \
 *   AZMX_TEST_LICENSE_KEY=... ./test_c_engine
 *
 * Covers: argument errors, a host HTTP transport (scripted answers → typed
 * statuses), two engines converging through the relay, WRONG_RECEIPT,
 * failing store callbacks (HOST_CALLBACK_FAILED, then recovery), export /
 * import, the scheduler, devices and revoke.
 *
 * Prints one line per failed check and a final "c tests: N passed, M failed".
 */
#define _GNU_SOURCE /* mkdtemp */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "azmx_sync.h"

#include "check.h"

static const char *RECEIPT = "RCPT-c-engine-test-41D7";
static char root[256];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int has(const AzmxBuffer *b, const char *needle) {
  return b->ptr != NULL && strstr((const char *)b->ptr, needle) != NULL;
}

static int last_error_has(const char *needle) {
  return strstr(azmx_last_error_message(), needle) != NULL;
}

/* ---- an in-memory store: records by (scope, id), tombstones kept -------- */
typedef struct {
  char *scope, *id, *json;
} Rec;

typedef struct {
  pthread_mutex_t mu; /* callbacks may run on the scheduler thread */
  Rec *recs;
  size_t n, cap;
  int fail_snapshot, bad_json, fail_apply;
  int snapshots, applies;
} MemStore;

static void mem_init(MemStore *m) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
}

static void mem_free(MemStore *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->recs[i].scope);
    free(m->recs[i].id);
    free(m->recs[i].json);
  }
  free(m->recs);
  pthread_mutex_destroy(&m->mu);
}

static int same(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Inserts or replaces; the caller holds the lock. */
static void mem_put_locked(MemStore *m, const char *scope, const char *id, const char *json) {
  for (size_t i = 0; i < m->n; i++) {
    if (same(m->recs[i].scope, scope) && strcmp(m->recs[i].id, id) == 0) {
      free(m->recs[i].json);
      m->recs[i].json = strdup(json);
      return;
    }
  }
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 8;
    m->recs = realloc(m->recs, m->cap * sizeof *m->recs);
  }
  m->recs[m->n].scope = scope ? strdup(scope) : NULL;
  m->recs[m->n].id = strdup(id);
  m->recs[m->n].json = strdup(json);
  m->n++;
}

static void mem_put(MemStore *m, const char *scope, const char *id, const char *json) {
  pthread_mutex_lock(&m->mu);
  mem_put_locked(m, scope, id, json);
  pthread_mutex_unlock(&m->mu);
}

/* Drops a record without a tombstone (a store that lost data). */
static void mem_forget(MemStore *m, const char *scope, const char *id) {
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n; i++) {
    if (same(m->recs[i].scope, scope) && strcmp(m->recs[i].id, id) == 0) {
      free(m->recs[i].scope);
      free(m->recs[i].id);
      free(m->recs[i].json);
      m->recs[i] = m->recs[--m->n];
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
}

/* The record JSON under (scope, id), copied (free it), or NULL. */
static char *mem_get(MemStore *m, const char *scope, const char *id) {
  char *out = NULL;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n; i++)
    if (same(m->recs[i].scope, scope) && strcmp(m->recs[i].id, id) == 0)
      out = strdup(m->recs[i].json);
  pthread_mutex_unlock(&m->mu);
  return out;
}

static int32_t mem_snapshot(void *user_data, AzmxSnapshotOut *out) {
  MemStore *m = user_data;
  pthread_mutex_lock(&m->mu);
  m->snapshots++;
  if (m->fail_snapshot) {
    pthread_mutex_unlock(&m->mu);
    return 7;
  }
  size_t len = 2;
  for (size_t i = 0; i < m->n; i++) len += strlen(m->recs[i].json) + 1;
  char *buf = malloc(len + 1), *p = buf;
  *p++ = '[';
  for (size_t i = 0; i < m->n; i++) {
    if (i) *p++ = ',';
    size_t l = strlen(m->recs[i].json);
    memcpy(p, m->recs[i].json, l);
    p += l;
  }
  *p++ = ']';
  *p = 0;
  const char *json = m->bad_json ? "[{\"id\": \"x\", oops" : buf;
  AzmxStatus s = azmx_snapshot_out_set(out, (const uint8_t *)json, strlen(json));
  free(buf);
  pthread_mutex_unlock(&m->mu);
  return s == AZMX_STATUS_OK ? 0 : 1;
}

static int32_t mem_apply(void *user_data, const AzmxChange *changes, size_t count) {
  MemStore *m = user_data;
  pthread_mutex_lock(&m->mu);
  m->applies++;
  if (m->fail_apply) {
    pthread_mutex_unlock(&m->mu);
    return -3;
  }
  for (size_t i = 0; i < count; i++) {
    const AzmxChange *c = &changes[i];
    if (c->id == NULL || c->record_json == NULL || strlen(c->record_json) != c->record_json_len ||
        (c->op == AZMX_CHANGE_OP_DELETE) != (c->deleted == 1)) {
      pthread_mutex_unlock(&m->mu);
      return 99;
    }
    mem_put_locked(m, c->scope, c->id, c->record_json);
  }
  pthread_mutex_unlock(&m->mu);
  return 0;
}

static AzmxStoreAdapter adapter_of(MemStore *m) {
  AzmxStoreAdapter a = {m, mem_snapshot, mem_apply};
  return a;
}

static void put_snippet(MemStore *m, const char *scope, const char *id, const char *device_id,
                        const char *text) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"id\":\"%s\",\"scope\":\"%s\",\"updatedAt\":%lld,\"deviceId\":\"%s\","
           "\"body\":{\"text\":\"%s\"}}",
           id, scope, (long long)now_ms(), device_id, text);
  mem_put(m, scope, id, json);
}

static AzmxSyncEngine *engine_at(const char *name, const char *url, const char *lid,
                                 const AzmxHttpTransport *transport) {
  char dir[320];
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  AzmxEngineConfig cfg = {sizeof cfg, dir, url, lid, name, transport};
  AzmxSyncEngine *e = NULL;
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_OK);
  return e;
}

static AzmxStatus set_receipt(AzmxSyncEngine *e, const char *receipt) {
  char buf[128];
  size_t n = strlen(receipt);
  memcpy(buf, receipt, n + 1);
  AzmxStatus s = azmx_engine_set_receipt(e, (uint8_t *)buf, n);
  for (size_t i = 0; i < n; i++)
    if (buf[i] != 0) {
      fprintf(stderr, "FAIL: the receipt buffer was not wiped\n");
      failed++;
      return s;
    }
  passed++;
  return s;
}

/* ---- engine-independent checks ------------------------------------------ */
static void test_arguments(void) {
  AzmxSyncEngine *e = (AzmxSyncEngine *)1;
  CHECK_STATUS(azmx_engine_new(NULL, &e), AZMX_STATUS_NULL_POINTER);
  CHECK(e == NULL);
  AzmxEngineConfig cfg = {0};
  /* A config from a header this library does not know. */
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK(last_error_has("struct_size"));
  cfg.struct_size = sizeof cfg + 8;
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK(e == NULL);
  cfg.struct_size = sizeof cfg;
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_NULL_POINTER);
  cfg.state_dir = "";
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_engine_new(&cfg, NULL), AZMX_STATUS_NULL_POINTER);

  /* A state dir under a regular file cannot be created. */
  char file[320], dir[340];
  snprintf(file, sizeof file, "%s/plain-file", root);
  FILE *f = fopen(file, "w");
  fputs("x", f);
  fclose(f);
  snprintf(dir, sizeof dir, "%s/state", file);
  cfg.state_dir = dir;
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_STATE_DIR);
  CHECK(e == NULL);
  unlink(file);

  AzmxHttpTransport no_send = {NULL, NULL};
  snprintf(dir, sizeof dir, "%s/args", root);
  cfg.transport = &no_send;
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_INVALID_ARGUMENT);
  cfg.transport = NULL;

  /* No relay settings: everything local works, registering does not. */
  CHECK_STATUS(azmx_engine_new(&cfg, &e), AZMX_STATUS_OK);
  AzmxBuffer b = {0};
  CHECK_STATUS(azmx_engine_fingerprint(e, &b), AZMX_STATUS_OK);
  CHECK(b.len > 0 && strlen((const char *)b.ptr) == b.len);
  /* Same device key file as the identity API sees. */
  char key_path[360];
  snprintf(key_path, sizeof key_path, "%s/device.key", dir);
  AzmxDeviceIdentity *id = NULL;
  AzmxBuffer fp = {0};
  CHECK_STATUS(azmx_device_identity_load_or_create(key_path, &id), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_device_identity_fingerprint(id, &fp), AZMX_STATUS_OK);
  CHECK(fp.len == b.len && memcmp(fp.ptr, b.ptr, b.len) == 0);
  azmx_buffer_free(&fp);
  azmx_device_identity_free(id);
  azmx_buffer_free(&b);

  CHECK_STATUS(azmx_engine_device_id(e, &b), AZMX_STATUS_NOT_REGISTERED);
  CHECK(b.ptr == NULL);
  /* The receipt may come before registering (register then checks it
     against the license's authority key); it is kept in memory only. */
  CHECK_STATUS(set_receipt(e, RECEIPT), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register(e, "key", &b), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK(last_error_has("relay_url"));
  CHECK_STATUS(azmx_engine_register(e, NULL, &b), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_verify_receipt(e), AZMX_STATUS_NOT_REGISTERED);
  AzmxCycleReport r = {.pushed_seq = 5};
  CHECK_STATUS(azmx_engine_sync_now(e, &r), AZMX_STATUS_NOT_REGISTERED);
  CHECK(r.pushed_seq == -1 && r.pushed_records == 0);
  CHECK_STATUS(azmx_engine_devices(e, &b), AZMX_STATUS_NOT_REGISTERED);
  CHECK_STATUS(azmx_engine_export(e, "/nonexistent/x", NULL), AZMX_STATUS_NO_RECEIPT);

  MemStore m;
  mem_init(&m);
  AzmxStoreAdapter a = adapter_of(&m), half = {&m, mem_snapshot, NULL};
  CHECK_STATUS(azmx_engine_register_store(e, "nope", &a), AZMX_STATUS_UNKNOWN_STORE);
  CHECK_STATUS(azmx_engine_register_store(e, "snippets", NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_register_store(e, "snippets", &half), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_engine_register_store(NULL, "snippets", &a), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_register_custom_store(e, "snippets", 0, 0, &a),
               AZMX_STATUS_INVALID_STORE_NAME);
  CHECK_STATUS(azmx_engine_register_custom_store(e, "my-workspace", 0, 0, &a),
               AZMX_STATUS_INVALID_STORE_NAME);
  CHECK_STATUS(azmx_engine_register_custom_store(e, "notes", 9, 0, &a),
               AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_engine_register_store(e, "snippets", &a), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register_store(e, "snippets", &a), AZMX_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(azmx_engine_register_custom_store(e, "notes", AZMX_CONTRACT_LWW_BY_TIME,
                                                 AZMX_SCOPE_RULE_ANY, &a),
               AZMX_STATUS_OK);

  CHECK_STATUS(azmx_engine_status(e, &b), AZMX_STATUS_OK);
  CHECK(has(&b, "\"receiptSet\":true") && has(&b, "\"deviceId\":null"));
  azmx_buffer_free(&b);
  CHECK_STATUS(azmx_engine_recent_activity(e, 10, &b), AZMX_STATUS_OK);
  CHECK(b.ptr != NULL && b.ptr[0] == '[');
  azmx_buffer_free(&b);
  CHECK_STATUS(azmx_engine_recent_activity(e, 10, NULL), AZMX_STATUS_NULL_POINTER);

  /* Scheduler controls are safe on an unregistered engine (hidden: no cycle). */
  CHECK_STATUS(azmx_engine_set_visible(e, 0), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_set_interval_secs(e, 1), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_start(e), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_start(e), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_trigger(e), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_stop(e), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_stop(e), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_start(NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_stop(NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_trigger(NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_set_visible(NULL, 1), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_set_interval_secs(NULL, 60), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_verify_receipt(NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_revoke(e, NULL), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_engine_import(e, NULL, NULL), AZMX_STATUS_NULL_POINTER);

  /* The reply setters refuse NULL sinks and bad statuses. */
  CHECK_STATUS(azmx_snapshot_out_set(NULL, (const uint8_t *)"[]", 2), AZMX_STATUS_NULL_POINTER);
  CHECK_STATUS(azmx_http_response_set(NULL, 200, NULL, 0, NULL, 0), AZMX_STATUS_NULL_POINTER);

  azmx_engine_free(e);
  azmx_engine_free(NULL);
  mem_free(&m);
}

/* ---- a scripted host HTTP transport ------------------------------------- */
typedef struct {
  int mode; /* 0 fail, 1 no answer, 2 429, 3 500, 4 403, 5 init ok, 6 bad status */
  int calls;
  int saw_init; /* POST .../sync/init with a JSON body */
  AzmxStatus set_status;
} FakeHttp;

static int32_t fake_send(void *user_data, const AzmxHttpRequest *req, AzmxHttpResponseOut *resp) {
  FakeHttp *f = user_data;
  f->calls++;
  size_t ul = strlen(req->url);
  int json = 0;
  for (size_t i = 0; i < req->header_count; i++)
    if (strcasecmp(req->headers[i].name, "content-type") == 0 &&
        strcmp(req->headers[i].value, "application/json") == 0)
      json = 1;
  if (strcmp(req->method, "POST") == 0 && ul > 10 && strcmp(req->url + ul - 10, "/sync/init") == 0 &&
      json && req->body_len > 0 && req->body[0] == '{')
    f->saw_init = 1;
  AzmxHttpHeader retry[] = {{"Retry-After", "60"}, {"Content-Type", "application/json"}};
  const char *body = "";
  switch (f->mode) {
  case 0: return 5;
  case 1: return 0;
  case 2: f->set_status = azmx_http_response_set(resp, 429, retry, 2, NULL, 0); return 0;
  case 3:
    body = "{\"error\":\"internal\",\"message\":\"scripted failure\"}";
    f->set_status = azmx_http_response_set(resp, 500, retry + 1, 1, (const uint8_t *)body, strlen(body));
    return 0;
  case 4:
    body = "{\"error\":\"revoked\",\"message\":\"revoked\"}";
    f->set_status = azmx_http_response_set(resp, 403, retry + 1, 1, (const uint8_t *)body, strlen(body));
    return 0;
  case 5:
    body = "{\"deviceId\":\"dev_scripted01\"}";
    f->set_status = azmx_http_response_set(resp, 201, retry + 1, 1, (const uint8_t *)body, strlen(body));
    return 0;
  default:
    f->set_status = azmx_http_response_set(resp, 42, NULL, 0, NULL, 0);
    return f->set_status == AZMX_STATUS_OK ? 0 : 1;
  }
}

static void test_host_transport(void) {
  FakeHttp f = {0};
  AzmxHttpTransport t = {&f, fake_send};
  AzmxSyncEngine *e = engine_at("scripted", "http://localhost:9", "lic_scripted", &t);
  if (e == NULL) return;
  AzmxBuffer b = {0};
  f.mode = 0;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_RELAY_UNREACHABLE);
  CHECK(f.calls == 3 && f.saw_init); /* retried, then given up */
  CHECK(last_error_has("returned 5"));
  f.mode = 1;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_RELAY_UNREACHABLE);
  f.mode = 6;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_RELAY_UNREACHABLE);
  CHECK(f.set_status == AZMX_STATUS_INVALID_ARGUMENT);
  f.mode = 2;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_RATE_LIMITED);
  CHECK(f.set_status == AZMX_STATUS_OK);
  f.mode = 3;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_RELAY_ERROR);
  CHECK(last_error_has("internal"));
  f.mode = 4;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_REVOKED);
  CHECK(b.ptr == NULL);
  f.mode = 5;
  CHECK_STATUS(azmx_engine_register(e, "k", &b), AZMX_STATUS_OK);
  CHECK(has(&b, "dev_scripted01"));
  azmx_buffer_free(&b);
  CHECK_STATUS(azmx_engine_device_id(e, &b), AZMX_STATUS_OK);
  CHECK(has(&b, "dev_scripted01"));
  azmx_buffer_free(&b);
  /* Registered now, but no receipt: a sync stops before any request. */
  int calls = f.calls;
  CHECK_STATUS(azmx_engine_sync_now(e, NULL), AZMX_STATUS_NO_RECEIPT);
  CHECK(f.calls == calls);
  azmx_engine_free(e);
}

/* ---- against the real relay --------------------------------------------- */
static int count_of(const AzmxBuffer *b, const char *needle) {
  int n = 0;
  if (b->ptr == NULL) return 0;
  for (const char *p = (const char *)b->ptr; (p = strstr(p, needle)) != NULL; p++) n++;
  return n;
}

static void test_relay(const char *url, const char *lid, const char *license_key) {
  MemStore ma, mb, mc, notes;
  mem_init(&ma);
  mem_init(&mb);
  mem_init(&mc);
  mem_init(&notes);
  AzmxSyncEngine *a = engine_at("laptop", url, lid, NULL);
  AzmxSyncEngine *b = engine_at("desktop", url, lid, NULL);
  AzmxSyncEngine *c = engine_at("intruder", url, lid, NULL);
  if (a == NULL || b == NULL || c == NULL) goto out;
  AzmxStoreAdapter sa = adapter_of(&ma), sb = adapter_of(&mb), sc = adapter_of(&mc);
  CHECK_STATUS(azmx_engine_register_store(a, "snippets", &sa), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register_store(b, "snippets", &sb), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register_store(c, "snippets", &sc), AZMX_STATUS_OK);

  AzmxBuffer ida = {0}, idb = {0}, idc = {0}, buf = {0};
  CHECK_STATUS(azmx_engine_register(c, "not-the-license-key", &idc), AZMX_STATUS_RELAY_ERROR);
  CHECK(strstr(azmx_last_error_message(), "not-the-license-key") == NULL);
  CHECK_STATUS(azmx_engine_register(a, license_key, &ida), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register(b, license_key, &idb), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_register(c, license_key, &idc), AZMX_STATUS_OK);
  CHECK(ida.ptr && idb.ptr && idc.ptr && strcmp((char *)ida.ptr, (char *)idb.ptr) != 0);
  if (!ida.ptr || !idb.ptr || !idc.ptr) goto out;

  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_NO_RECEIPT);
  CHECK_STATUS(azmx_engine_verify_receipt(b), AZMX_STATUS_NO_RECEIPT);
  CHECK_STATUS(set_receipt(a, RECEIPT), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_verify_receipt(a), AZMX_STATUS_OK); /* sets the key check */
  CHECK_STATUS(set_receipt(b, RECEIPT), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_verify_receipt(b), AZMX_STATUS_OK);

  /* A wrong receipt is caught before anything is pushed; never echoed. */
  put_snippet(&mc, "mallory", "x", (char *)idc.ptr, "should never leave");
  CHECK_STATUS(set_receipt(c, "RCPT-not-the-right-one"), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_verify_receipt(c), AZMX_STATUS_WRONG_RECEIPT);
  CHECK(strstr(azmx_last_error_message(), "RCPT") == NULL);
  CHECK_STATUS(azmx_engine_sync_now(c, NULL), AZMX_STATUS_WRONG_RECEIPT);
  CHECK_STATUS(set_receipt(c, "   "), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_verify_receipt(c), AZMX_STATUS_EMPTY_RECEIPT);

  /* Two devices converge: A writes, syncs; B syncs and sees it. */
  put_snippet(&ma, "alice", "greeting", (char *)ida.ptr, "hello from the laptop");
  AzmxCycleReport r;
  CHECK_STATUS(azmx_engine_sync_now(a, &r), AZMX_STATUS_OK);
  CHECK(r.pushed_seq >= 1 && r.pushed_records == 1 && r.sealed_bytes > 0);
  CHECK_STATUS(azmx_engine_sync_now(b, &r), AZMX_STATUS_OK);
  CHECK(r.pulled_blobs >= 1 && r.applied_changes == 1 && r.quarantined == 0);
  char *seen = mem_get(&mb, "alice", "greeting");
  CHECK(seen != NULL && strstr(seen, "hello from the laptop") != NULL &&
        strstr(seen, (char *)ida.ptr) != NULL);
  free(seen);
  seen = mem_get(&mb, "mallory", "x");
  CHECK(seen == NULL);
  free(seen);

  /* A failing store callback is a typed status, then the cycle recovers. */
  AzmxStoreAdapter sn = adapter_of(&notes);
  CHECK_STATUS(azmx_engine_register_custom_store(b, "notes", AZMX_CONTRACT_LWW_BY_TIME,
                                                 AZMX_SCOPE_RULE_ANY, &sn),
               AZMX_STATUS_OK);
  notes.fail_snapshot = 1;
  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_HOST_CALLBACK_FAILED);
  CHECK(last_error_has("notes") && last_error_has("snapshot") && last_error_has("7"));
  notes.fail_snapshot = 0;
  notes.bad_json = 1;
  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_HOST_CALLBACK_FAILED);
  CHECK(last_error_has("invalid records JSON") && !last_error_has("oops"));
  notes.bad_json = 0;
  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_OK);

  put_snippet(&ma, "alice", "second", (char *)ida.ptr, "edited on the laptop");
  CHECK_STATUS(azmx_engine_sync_now(a, NULL), AZMX_STATUS_OK);
  mb.fail_apply = 1;
  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_HOST_CALLBACK_FAILED);
  CHECK(last_error_has("snippets") && last_error_has("apply"));
  mb.fail_apply = 0;
  CHECK_STATUS(azmx_engine_sync_now(b, &r), AZMX_STATUS_OK);
  seen = mem_get(&mb, "alice", "second");
  CHECK(seen != NULL && strstr(seen, "edited on the laptop") != NULL);
  free(seen);

  /* Export from A; B, which lost a record, gets it back from the import
   * (and a second import changes nothing); a non-export is refused. */
  char path[320];
  snprintf(path, sizeof path, "%s/backup.azmx", root);
  uint64_t n = 0;
  CHECK_STATUS(azmx_engine_export(a, path, &n), AZMX_STATUS_OK);
  CHECK(n == 2);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  mem_forget(&mb, "alice", "second");
  n = 0;
  CHECK_STATUS(azmx_engine_import(b, path, &n), AZMX_STATUS_OK);
  CHECK(n == 1);
  seen = mem_get(&mb, "alice", "second");
  CHECK(seen != NULL);
  free(seen);
  CHECK_STATUS(azmx_engine_import(b, path, &n), AZMX_STATUS_OK);
  CHECK(n == 0);
  FILE *f = fopen(path, "w");
  fputs("not an export", f);
  fclose(f);
  CHECK_STATUS(azmx_engine_import(b, path, &n), AZMX_STATUS_EXPORT_FORMAT);
  CHECK(n == 0);
  unlink(path);

  /* The scheduler: a triggered background cycle pushes A's new snippet. */
  put_snippet(&ma, "alice", "third", (char *)ida.ptr, "pushed in the background");
  CHECK_STATUS(azmx_engine_recent_activity(a, 512, &buf), AZMX_STATUS_OK);
  int pushes = count_of(&buf, "\"type\":\"pushed\"");
  azmx_buffer_free(&buf);
  CHECK_STATUS(azmx_engine_set_visible(a, 1), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_start(a), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_trigger(a), AZMX_STATUS_OK);
  int later = pushes;
  for (int i = 0; i < 200 && later == pushes; i++) {
    usleep(50 * 1000);
    CHECK_STATUS(azmx_engine_recent_activity(a, 512, &buf), AZMX_STATUS_OK);
    later = count_of(&buf, "\"type\":\"pushed\"");
    azmx_buffer_free(&buf);
  }
  CHECK(later > pushes);
  CHECK_STATUS(azmx_engine_stop(a), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_sync_now(b, NULL), AZMX_STATUS_OK);
  seen = mem_get(&mb, "alice", "third");
  CHECK(seen != NULL && strstr(seen, "pushed in the background") != NULL);
  free(seen);

  /* Status, devices, revoke. */
  CHECK_STATUS(azmx_engine_status(a, &buf), AZMX_STATUS_OK);
  CHECK(has(&buf, (char *)ida.ptr) && has(&buf, "\"receiptSet\":true") &&
        !has(&buf, RECEIPT));
  azmx_buffer_free(&buf);
  CHECK_STATUS(azmx_engine_devices(a, &buf), AZMX_STATUS_OK);
  CHECK(has(&buf, (char *)idb.ptr) && has(&buf, (char *)idc.ptr) && has(&buf, "\"desktop\""));
  azmx_buffer_free(&buf);
  CHECK_STATUS(azmx_engine_revoke(a, (char *)idc.ptr), AZMX_STATUS_OK);
  CHECK_STATUS(azmx_engine_devices(c, &buf), AZMX_STATUS_REVOKED);
  CHECK(buf.ptr == NULL);

out:
  azmx_buffer_free(&ida);
  azmx_buffer_free(&idb);
  azmx_buffer_free(&idc);
  azmx_engine_free(a);
  azmx_engine_free(b);
  azmx_engine_free(c);
  mem_free(&ma);
  mem_free(&mb);
  mem_free(&mc);
  mem_free(&notes);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *url = getenv("AZMX_TEST_RELAY_URL");
  const char *lid = getenv("AZMX_TEST_LICENSE_ID");
  const char *key = getenv("AZMX_TEST_LICENSE_KEY");
  if (!url || !lid || !key) {
    fprintf(stderr, "set AZMX_TEST_RELAY_URL, AZMX_TEST_LICENSE_ID and AZMX_TEST_LICENSE_KEY "
                    "(scripts/test.d/20-c.sh starts a relay)\n");
    return 2;
  }
  snprintf(root, sizeof root, "%s/azmx-c-engine-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 2;
  }
  test_arguments();
  test_host_transport();
  test_relay(url, lid, key);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);

  printf("c tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
