#!/usr/bin/env python3
"""Verify an unpacked evidence pack offline (standard library only; shipped in every pack as ``verify.py``).

Usage, in the folder the ZIP was unpacked into::

    python3 verify.py

Checks, and prints one line per finding:

1. every file listed in MANIFEST.json has the sha256 and size written there, and ``records.json`` has the
   ``records_sha256`` printed in the dossier's page footers;
2. the audit chain proof: ``chain/links.jsonl`` holds (seq, prev_hash, hash) of every event of the whole chain
   from #1 to the head; each link's ``prev_hash`` must equal the hash of the link before it (the first one's is
   64 zeros), and the last hash must be the head hash in ``chain/verification.json``;
3. every event of this passport in ``chain/events.jsonl`` is recomputed: sha256 over the canonical JSON (sorted
   keys, no spaces, UTF-8) of its fields seq, occurred_at, actor_id, actor_repr, action, object_type,
   object_id, object_repr, passport_key, digests, data, request_id and prev_hash must equal its hash, which
   must be the hash at the same seq in the links;
4. the signed checkpoint ``chain/checkpoint.json``: its hash must be the links' hash at its seq, and its ECDSA
   P-256 signature must verify with ``chain/platform-key.pem`` (checked when the ``cryptography`` package is
   installed; the rest needs only the standard library).

Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

GENESIS_HASH = "0" * 64
HASHED_FIELDS = ("seq", "occurred_at", "actor_id", "actor_repr", "action", "object_type", "object_id",
                 "object_repr", "passport_key", "digests", "data", "request_id", "prev_hash")


def event_hash(event: dict) -> str:
    payload = {name: event[name] for name in HASHED_FIELDS}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _jsonl(path: Path):
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def check_files(root: Path, manifest: dict) -> list[str]:
    problems = []
    for entry in manifest["files"]:
        path = root / entry["path"]
        if not path.is_file():
            problems.append(f"missing file: {entry['path']}")
        elif file_sha256(path) != entry["sha256"] or path.stat().st_size != entry["size"]:
            problems.append(f"file differs from the manifest: {entry['path']}")
    records = root / "records.json"
    if records.is_file() and file_sha256(records) != manifest["records_sha256"]:
        problems.append("records.json does not have the records SHA-256 printed in the dossier")
    return problems


def check_chain(root: Path) -> tuple[list[str], int]:
    """Problems found in the chain proof, and the number of links walked."""
    problems, hashes, expected_prev, expected_seq = [], {}, GENESIS_HASH, 1
    for link in _jsonl(root / "chain" / "links.jsonl"):
        if link["seq"] != expected_seq:
            problems.append(f"sequence gap: expected #{expected_seq}, found #{link['seq']}")
            break
        if link["prev_hash"] != expected_prev:
            problems.append(f"link broken at #{link['seq']}: its previous hash is not the hash of #{expected_seq - 1}")
            break
        hashes[link["seq"]] = link["hash"]
        expected_prev, expected_seq = link["hash"], expected_seq + 1
    verification = json.loads((root / "chain" / "verification.json").read_text(encoding="utf-8"))
    if not problems and expected_prev != verification["head_hash"]:
        problems.append("the last link is not the head hash recorded in chain/verification.json")
    for event in _jsonl(root / "chain" / "events.jsonl"):
        if event_hash(event) != event["hash"]:
            problems.append(f"event #{event['seq']} ({event['action']}): its fields do not hash to its hash")
        elif hashes.get(event["seq"]) != event["hash"]:
            problems.append(f"event #{event['seq']} ({event['action']}) is not the event at that place in the chain")
    problems += check_checkpoint(root, hashes)
    if not verification.get("ok"):
        problems.append(f"the platform reported the chain broken at #{verification.get('first_broken_seq')}: "
                        f"{verification.get('reason')}")
    return problems, expected_seq - 1


def check_checkpoint(root: Path, hashes: dict) -> list[str]:
    """The signed checkpoint: its hash must be the chain's at its seq, and (with the cryptography package) its
    ECDSA P-256 signature must verify with chain/platform-key.pem."""
    path = root / "chain" / "checkpoint.json"
    if not path.exists():
        return []
    checkpoint = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    if checkpoint["seq"] and hashes.get(checkpoint["seq"]) != checkpoint["hash"]:
        problems.append(f"the signed checkpoint's hash is not the chain's hash at #{checkpoint['seq']}")
    signed = json.dumps({"chain": "model-governance/audit-chain", "seq": checkpoint["seq"],
                         "hash": checkpoint["hash"], "time": checkpoint["time"], "key_id": checkpoint["key_id"]},
                        sort_keys=True, separators=(",", ":")).encode()
    try:
        import base64

        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes as crypto_hashes
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        print("NOTE the checkpoint's signature was not checked: install the 'cryptography' package to check it")
        return problems
    key = serialization.load_pem_public_key((root / "chain" / "platform-key.pem").read_bytes())
    try:
        key.verify(base64.b64decode(checkpoint["signature"]), signed, ec.ECDSA(crypto_hashes.SHA256()))
    except (InvalidSignature, ValueError):
        problems.append("the checkpoint's signature does not verify with chain/platform-key.pem")
    return problems


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="verify.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("Usage,", 1)[0].strip() + "\n\n" + __doc__.split("Checks,", 1)[1].strip())
    parser.add_argument("folder", nargs="?", type=Path, default=Path(__file__).resolve().parent,
                        help="the folder the pack was unpacked into (default: this file's folder)")
    root = parser.parse_args(argv[1:]).folder
    if not (root / "MANIFEST.json").is_file():
        print(f"FAIL {root} holds no MANIFEST.json: give the folder the evidence pack was unpacked into")
        return 1
    manifest = json.loads((root / "MANIFEST.json").read_text(encoding="utf-8"))
    problems = check_files(root, manifest)
    chain_problems, walked = check_chain(root)
    problems += chain_problems
    for problem in problems:
        print("FAIL", problem)
    if problems:
        return 1
    print(f"OK: {len(manifest['files'])} files match the manifest; {walked} chain links and every event of "
          f"passport '{manifest['passport']}' recompute to head {manifest['chain']['head_hash']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
