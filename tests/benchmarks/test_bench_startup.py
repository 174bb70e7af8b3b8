"""bench_startup prints its table (figures are measured there, never asserted: not a timed test)."""

from benchmarks import bench_startup


def test_startup_table_prints_ratios(capsys):
    assert bench_startup.main(["--repeat", "1", "--no-fit", "--only", "ltr-cos -h,ltr-cos data convert -h"]) == 0
    out = capsys.readouterr().out
    assert "| python -c pass |" in out and "| ltr-cos data convert -h |" in out and "x python -c pass" in out
