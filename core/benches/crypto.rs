//! Criterion benchmarks for the wire-contract primitives.

use azmx_sync_core::canonical::{verify, SignedRequest};
use azmx_sync_core::{sha256_hex, DeviceIdentity, EnvelopeKey};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn derive(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdf");
    g.sample_size(10);
    g.bench_function("pbkdf2_600k_derive", |b| {
        b.iter(|| EnvelopeKey::derive("correct horse battery staple", "lic_0001").unwrap())
    });
    g.finish();
}

fn seal_open(c: &mut Criterion) {
    let key = EnvelopeKey::from_bytes_for_vectors([7; 32]);
    let mut g = c.benchmark_group("envelope");
    for size in [1024usize, 64 * 1024, 1024 * 1024] {
        let pt = vec![0x5au8; size];
        let blob = key.seal(&pt);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("seal", size), &pt, |b, pt| {
            b.iter(|| key.seal(pt))
        });
        g.bench_with_input(BenchmarkId::new("open", size), &blob, |b, blob| {
            b.iter(|| key.open(blob).unwrap())
        });
        // The bindings' bulk path: straight between caller-owned buffers.
        let mut sealed = vec![0u8; blob.len()];
        g.bench_with_input(BenchmarkId::new("seal_into", size), &pt, |b, pt| {
            b.iter(|| key.seal_into(pt, &mut sealed).unwrap())
        });
        let mut opened = vec![0u8; size];
        g.bench_with_input(BenchmarkId::new("open_into", size), &blob, |b, blob| {
            b.iter(|| key.open_into(blob, &mut opened).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("sha256", size), &blob, |b, blob| {
            b.iter(|| sha256_hex(blob))
        });
    }
    g.finish();
}

fn sign_verify(c: &mut Criterion) {
    let id = DeviceIdentity::from_seed_for_vectors([1; 32]);
    let req = SignedRequest::Push {
        device_id: "dev_a1b2c3".into(),
        seq: 42,
        sha256: sha256_hex(b"x"),
        ts: 1_764_288_000,
    };
    let canonical = req.canonical().unwrap();
    let sig = id.sign(&req).unwrap();
    let pk = id.public_key();
    let mut g = c.benchmark_group("signature");
    g.bench_function("sign_push", |b| b.iter(|| id.sign(&req).unwrap()));
    g.bench_function("verify_push", |b| {
        b.iter(|| verify(&pk, &canonical, &sig, 1_764_288_000, 300).unwrap())
    });
    g.finish();
}

criterion_group!(benches, derive, seal_open, sign_verify);
criterion_main!(benches);
