"""The `coalition` CLI end to end, through the real console entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coalition import CoalitionConfig
from coalition.config_file import load_coalition

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples" / "coalitions"
EXPECTED = json.loads((EXAMPLES / "fingerprints.json").read_text("utf-8"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_fingerprint_prints_stable_id() -> None:
    res = run("fingerprint", str(EXAMPLES / "searcher-alpha.toml"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == EXPECTED["searcher-alpha.toml"]


def test_fingerprint_json_lists_everything() -> None:
    res = run("fingerprint", "--json", str(EXAMPLES / "infer-corp.toml"))
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    cfg = load_coalition(EXAMPLES / "infer-corp.toml").config
    assert data["stable_id"] == cfg.stable_id().hex()
    assert data["coalition_root"] == cfg.coalition_root().hex()
    assert set(data["modules"]) == {"atlas", "compute"}
    assert data["modules"]["compute"]["module_root"] == cfg.compute().stable_id.hex()  # type: ignore[union-attr]
    assert data["ticket_issuer_root"] == cfg.ticket_issuer_root().hex()  # type: ignore[union-attr]
    assert [m["member_id"] for m in data["members"]] == [m.hex() for m in cfg.member_ids()]
    assert CoalitionConfig.from_hex(data["handshake_hex"]) == cfg


def test_verify_match_and_mismatch() -> None:
    path = str(EXAMPLES / "signer-delta.toml")
    ok = run("verify", path, "--expect", EXPECTED["signer-delta.toml"])
    assert ok.returncode == 0 and "ok" in ok.stdout
    wrong = run("verify", path, "--expect", EXPECTED["oracle-gamma.toml"])
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "mismatch" in wrong.stderr


def test_module_acl_recognises_own_issuer() -> None:
    cfg = load_coalition(EXAMPLES / "infer-corp.toml").config
    compute = cfg.module_slots[3]
    assert compute is not None
    root = cfg.ticket_issuer_root()
    assert root is not None and compute.body.acl.clauses[0].value == root.bytes


def test_handshake_pages_written(tmp_path: Path) -> None:
    res = run("handshake", str(EXAMPLES / "ethereum-superchain.toml"), "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "ethereum-superchain.md").read_text("utf-8")
    page = (tmp_path / "ethereum-superchain.html").read_text("utf-8")
    fp = EXPECTED["ethereum-superchain.toml"]
    for text in (md, page):
        assert fp in text
        for name in ("ethereum.mainnet", "unichain.mainnet", "base.mainnet", "intents", "ledger"):
            assert name in text
        assert "randomness" in text  # listed as explicitly not shipped
        assert "Change channel" in text
    assert md.index("ethereum.mainnet") < md.index("unichain.mainnet") < md.index("base.mainnet")


def test_demo_verifies_every_example(tmp_path: Path) -> None:
    res = run("demo", "--out", str(tmp_path / "pages"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("ok") >= len(EXPECTED)
    assert {p.name for p in (tmp_path / "pages").glob("*.html")} == {
        n.replace(".toml", ".html") for n in EXPECTED
    }


def test_demo_fails_on_a_wrong_expected_fingerprint(tmp_path: Path) -> None:
    folder = tmp_path / "ex"
    folder.mkdir()
    (folder / "one.toml").write_text('instance_name = "one"\n', "utf-8")
    (folder / "fingerprints.json").write_text(json.dumps({"one.toml": "00" * 32}), "utf-8")
    res = run("demo", "--examples", str(folder), "--out", str(tmp_path / "out"))
    assert res.returncode == 1
    assert "MISMATCH" in res.stdout


def test_inspect_decodes_a_handshake() -> None:
    cfg = load_coalition(EXAMPLES / "bridge-beta.toml").config
    res = run("inspect", cfg.to_hex())
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["stable_id"] == cfg.stable_id().hex()


BAD_INPUTS = [
    ("missing.toml", None, "no such file"),
    ("bad.toml", 'instance_name = "x\n', "invalid TOML"),
    ("unknown.toml", 'instance_name = "x"\ncolour = "red"\n', "colour: unknown key"),
    ("type.toml", "instance_name = 7\n", "instance_name: must be a string, got an integer"),
    (
        "hex.toml",
        'instance_name = "x"\n[[organisms]]\nrole = "r"\nstable_id = "abc"\n',
        "organisms[0].stable_id: not a 64-hex-digit UniqueId",
    ),
    (
        "module.toml",
        'instance_name = "x"\n[atlas]\nname = "a"\n[atlas.acl]\nmode = "sometimes"\n',
        "atlas.acl.mode: must be one of open, all-of, any-of",
    ),
    (
        "clause.toml",
        'instance_name = "x"\n[atlas]\nname = "a"\n[atlas.acl]\nmode = "all-of"\n'
        'clauses = [{ kind = "require-mrtd", value = "00" }]\n',
        "atlas.acl.clauses[0].value: ACL clause require-mrtd takes 48 bytes, got 1",
    ),
    (
        "float.toml",
        'instance_name = "x"\n[atlas]\nname = "a"\n[atlas.content.params]\nrate = 1.5\n',
        "atlas.content.params: content parameter content.rate has unsupported type float",
    ),
    ("empty-name.toml", 'instance_name = ""\n', "instance_name: instance_name must not be empty"),
    (
        "dup.toml",
        'instance_name = "x"\n[[lattices]]\ninstance_name = "a"\n'
        '[[lattices]]\ninstance_name = "a"\n',
        "referenced twice",
    ),
    (
        "policy.toml",
        'instance_name = "x"\nretirement_policy = "sloppy"\n',
        "retirement_policy: must be conservative or lenient",
    ),
    (
        "issuer.toml",
        'instance_name = "x"\n[compute]\nname = "c"\n[compute.acl]\nmode = "any-of"\n'
        'clauses = [{ kind = "recognise-issuer", value = "coalition" }]\n',
        "needs a [ticket_issuer]",
    ),
]


@pytest.mark.parametrize(("name", "body", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_one_line_exit_2(
    tmp_path: Path, name: str, body: str | None, message: str
) -> None:
    path = tmp_path / name
    if body is not None:
        path.write_text(body, "utf-8")
    res = run("fingerprint", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {path}")
    assert message in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "x.toml", "--expect", "zz"], "--expect: not a 64-hex-digit UniqueId"),
        (["inspect", "434f414c00"], "handshake: malformed coalition handshake"),
        (["inspect", "nothex"], "handshake: coalition handshake must be an even-length hex"),
        (["inspect", "00" * 8], "missing 'COAL' magic"),
    ],
)
def test_bad_arguments_one_line_exit_2(args: list[str], message: str) -> None:
    res = run(*args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert message in res.stderr


def _bad_file(tmp_path: Path, kind: str) -> tuple[str, str]:
    """A path that cannot be a coalition file, and what the one-line error must say."""
    match kind:
        case "too-long":
            return str(tmp_path / ("a" * 300)), "file name too long"
        case "symlink-loop":
            (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
            (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
            return str(tmp_path / "loop1"), "too many levels of symbolic links"
        case "under-a-file":
            (tmp_path / "plain").write_text("x")
            return str(tmp_path / "plain" / "c.toml"), "a parent in the path is not a directory"
        case "directory":
            return str(tmp_path), "is a directory, not a regular file"
        case "fifo":
            os.mkfifo(tmp_path / "pipe.toml")  # no writer: reading would block forever
            return str(tmp_path / "pipe.toml"), "is a FIFO, not a regular file"
        case "dev-zero":
            return "/dev/zero", "is a character device, not a regular file"
        case "deep-array":
            path = tmp_path / "deep.toml"
            path.write_text('instance_name = "x"\nv = ' + "[" * 5000 + "]" * 5000 + "\n")
            return str(path), "nested deeper than 32 levels"
        case "deep-table":
            path = tmp_path / "dotted.toml"
            path.write_text('instance_name = "x"\n' + ".".join(["t"] * 40) + " = 1\n")
            return str(path), "t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t.t"
        case "newline-key":
            path = tmp_path / "key.toml"
            path.write_text('instance_name = "x"\n"a\\nb" = 1\n')
            return str(path), '"a\\nb": unknown key'
        case "nul-in-config-path":
            path = tmp_path / "nul.toml"
            path.write_text(
                'instance_name = "x"\n[[organisms]]\nrole = "r"\ninstance_name = "o"\n'
                'config = "o\\u0000.toml"\n'
            )
            return str(path), "organisms[0].config: the path contains a NUL byte"
    raise AssertionError(kind)


BAD_PATHS = [
    "too-long",
    "symlink-loop",
    "under-a-file",
    "directory",
    "fifo",
    "dev-zero",
    "deep-array",
    "deep-table",
    "newline-key",
    "nul-in-config-path",
]


@pytest.mark.parametrize("kind", BAD_PATHS)
def test_unreadable_or_hostile_file_is_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    """Bad paths and hostile files end in one line naming the file (and key), never a hang."""
    path, message = _bad_file(tmp_path, kind)
    res = run("fingerprint", path)  # run() times out after 60 s: a FIFO must not hang
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {path}")
    assert message in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.toml"
    path.write_text('instance_name = "x"\n')
    path.chmod(0)
    res = run("fingerprint", str(path))
    assert res.returncode == 2 and res.stderr == f"error: {path}: permission denied\n"


def test_a_regular_file_reporting_size_0_is_still_read(tmp_path: Path) -> None:
    """`/proc` files report size 0 yet are regular: the bound is the read, not stat."""
    res = run("fingerprint", "/proc/self/maps")  # regular, stat size 0, parses as bad TOML
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    assert "invalid TOML" in res.stderr


def test_handshake_out_under_a_file_is_one_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    for out_dir in (plain, plain / "pages"):
        res = run("handshake", str(EXAMPLES / "infer-corp.toml"), "--out", str(out_dir))
        assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
        assert res.stderr.startswith(f"error: {plain}") and "Traceback" not in res.stderr
