import json
import subprocess
import sys

from anatomy_vlm.cli import main

REPORT = "FINDINGS: No pneumothorax. Small left pleural effusion. The cardiac silhouette is enlarged."


def test_parse_json_in_process(capsys):
    assert main(["report", "parse", REPORT, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_id = {row["finding"]["id"]: row for row in rows}
    assert set(rows[0]) >= {"sentence", "finding", "regions", "negated", "uncertain"}
    assert by_id["pneumothorax"]["negated"] is True
    assert by_id["pleural_effusion"]["negated"] is False
    assert [r["id"] for r in by_id["pleural_effusion"]["regions"]] == ["left_lung"]
    assert [r["id"] for r in by_id["cardiomegaly"]["regions"]] == ["cardiac_silhouette"]
    assert set(by_id["cardiomegaly"]["finding"]) >= {"id", "label", "type", "radlex", "umls", "synonyms"}


def test_parse_reads_a_file_and_prints_a_table(tmp_path, capsys):
    path = tmp_path / "s1.txt"
    path.write_text(REPORT, encoding="utf-8")
    assert main(["report", "parse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pleural_effusion" in out and "negated" in out


def test_missing_file_exits_2_with_one_line(tmp_path, capsys):
    assert main(["report", "parse", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not found" in err


def test_long_one_line_report_is_text_not_a_path(capsys):
    text = " ".join(["Small left pleural effusion."] * 20)  # longer than a file name may be
    assert main(["report", "parse", text, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(row["finding"]["id"] == "pleural_effusion" for row in rows)


def test_binary_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfe\x00\x81")
    assert main(["report", "parse", str(path)]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_subprocess_json_and_no_torch():
    code = (
        "import sys, json\n"
        "from anatomy_vlm.cli import main\n"
        f"rc = main(['report', 'parse', {REPORT!r}, '--json'])\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    status = json.loads(lines[-1])
    assert status == {"rc": 0, "torch": False}
    assert len(lines) == 4 and json.loads(lines[0])["finding"]["id"] == "pneumothorax"


def test_console_script_missing_file_exit_code(tmp_path):
    done = subprocess.run([sys.executable, "-m", "anatomy_vlm.cli", "report", "parse", str(tmp_path / "x.txt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("anatomy-vlm: error:")
