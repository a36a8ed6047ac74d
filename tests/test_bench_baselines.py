

def test_bench_audit_refuses_a_photo_size_it_cannot_use(tmp_path):
    """--photo-size is WIDTHxHEIGHT; anything else is a plain error, exit 2."""
    from click.testing import CliRunner

    from packcheck.cli import cli

    (tmp_path / "orders.csv").write_text("order_id,sku,qty,photo\n")
    r = CliRunner().invoke(cli, ["bench", "audit", "--data", str(tmp_path), "--photo-size", "12x5"])
    assert r.exit_code == 2
    assert r.output.strip().endswith("Error: --photo-size '12x5' is not WIDTHxHEIGHT with both at least 64, "
                                     "e.g. 4000x3000")
