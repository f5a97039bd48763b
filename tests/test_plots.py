"""plots.save: both files written, the pdf with the png's layout."""

import numpy as np

from overparam import plots


def _figure():
    plots.style()
    fig, axes = plots.subplots(2, 2, width=3.0, height=2.5)
    for i, ax in enumerate(axes):
        ax.plot(np.arange(10), np.arange(10) ** (i + 1), label=f"power {i + 1}")
        ax.set(title=f"panel {i}", xlabel="x, a long axis label", ylabel="y, a long axis label")
        ax.legend()
    return fig


def _positions(fig):
    return np.array([ax.get_position().bounds for ax in fig.axes])


def test_save_lays_out_once_and_the_pdf_keeps_it(tmp_path):
    fig = _figure()
    unlaid = _positions(fig)
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    saved = {}
    real = fig.savefig

    def spy(path, **kw):
        real(path, **kw)
        saved[str(path).split(".")[-1]] = _positions(fig)

    fig.savefig = spy
    plots.save(fig, png, pdf)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(tmp_path.glob("*.tmp*"))
    # the png was laid out (constrained layout moved the axes), the pdf has the same layout
    assert not np.allclose(saved["png"], unlaid)
    np.testing.assert_array_equal(saved["pdf"], saved["png"])
    # and it is the layout a save on its own computes
    alone = _figure()
    alone.savefig(tmp_path / "alone.png")
    np.testing.assert_allclose(_positions(alone), saved["png"], atol=1e-12)
