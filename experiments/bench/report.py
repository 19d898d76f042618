"""The suite's results as a Markdown table."""

from __future__ import annotations

REFERENCE = "jax"


def table(report: dict) -> str:
    peak = report.get("matmul_peak_gflops")
    lines = [
        "Matmul peak (float32, best of the frameworks): "
        + (f"{peak:.0f} GFLOP/s" if peak else "not measured"),
        "",
        "| model | framework | examples/s median (min–max) | compile s | peak MB "
        "| % of FLOP limit | CPU ms/step | jaxcourse ÷ this |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, results in report["workloads"].items():
        ref = results.get(REFERENCE, {}).get("examples_per_s")
        for fw, r in results.items():
            if "error" in r:
                lines.append(f"| {name} | {fw} | failed: {r['error'][:60]} | | | | | |")
                continue
            rate = r["examples_per_s"]
            frac = f"{100 * r['gflops'] / peak:.0f} %" if peak else "–"
            ratio = f"{ref / rate:.2f}×" if ref and fw != REFERENCE else "–"
            lines.append(
                f"| {name} | {fw} | {rate:,.0f} ({r['examples_per_s_min']:,.0f}–"
                f"{r['examples_per_s_max']:,.0f}) | {r['compile_s']:.2f} | "
                f"{r['peak_rss_mb']:,.0f} | {frac} | {1e3 * r['cpu_s_per_step']:.0f} | {ratio} |"
            )
    load = report.get("load_average_start"), report.get("load_average_end")
    if all(load):
        lines += [
            "",
            f"{report['cpu_count']} CPUs; 1-minute load average {load[0][0]:.1f} at the start, "
            f"{load[1][0]:.1f} at the end.",
        ]
    return "\n".join(lines)
