"""JWT minting rate through JwtSigner/JwtAuth against raw RSA signing with the same key.

Baseline: ``cryptography``'s RSA PKCS#1 v1.5 SHA-256 signature of a token-sized message,
with the key already loaded - the floor any RS256 minting can reach. qlikauth keeps the
loaded key, so minting should stay within 10% of that floor (target: >= 90%). A third row
shows what loading the PEM per token would cost (what the cache avoids).

Run: ``python benchmarks/bench_jwt.py [--seconds 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _slices import interleaved
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from qlikauth.auth.jwt import JwtAuth
from qlikauth.jwt import JwtSigner, make_jwt_keypair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per row")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        key_path, _ = make_jwt_keypair(Path(folder) / "key.pem", Path(folder) / "cert.pem")
        pem = key_path.read_bytes()
        signer = JwtSigner(key_path)
        key = signer.private_key
        auth = JwtAuth("alice", "CORP", signer=signer, groups=["Sales"])
        sample = auth.token()
        message = sample.rsplit(".", 1)[0].encode()
        claims = auth.claims()

        def raw() -> object:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA256())

        def load_per_token() -> object:
            fresh = serialization.load_pem_private_key(pem, password=None)
            return fresh.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]

        rows = {
            "raw cryptography RSA sign (baseline)": raw,
            "JwtSigner.sign (same claims)": lambda: signer.sign(claims),
            "JwtAuth.token (fresh claims + jti)": auth.token,
        }
        # CPU time of this thread: signing is CPU-bound, so waiting for other processes
        # on a busy machine is left out of every row alike.
        tallies = interleaved(rows, args.seconds, clock=time.thread_time)
        best = {name: tally.per_second for name, tally in tallies.items()}
        per_token_load = interleaved(
            {"load": load_per_token}, min(args.seconds, 1.0), clock=time.thread_time
        )["load"].per_second

    baseline = best["raw cryptography RSA sign (baseline)"]
    print(f"{'operation':<42} {'per CPU s':>12} {'vs baseline':>12}")
    for name, value in best.items():
        print(f"{name:<42} {value:>12,.0f} {value / baseline:>11.1%}")
    print(
        f"{'load PEM + sign per token (not done)':<42} {per_token_load:>12,.0f} "
        f"{per_token_load / baseline:>11.1%}"
    )
    ratio = best["JwtAuth.token (fresh claims + jti)"] / baseline
    print(f"\nJwtAuth minting rate = {ratio:.1%} of raw RSA signing (target >= 90%)")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
