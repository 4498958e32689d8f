// Learning-curve plots drawn by scripts/plot.py after a run or sweep, and the path of the
// dnnrec executable (which finds the script and starts a sweep's trials).
#pragma once

#include <string>

namespace dnnrec::cli {

/// The dnnrec executable (/proc/self/exe); Error when it cannot be read.
std::string self_path();

/// Learning curves (and for a sweep its comparison plots) as PNGs in dir, by scripts/plot.py.
/// Plots are a convenience: failing to draw them is logged, never an error. DNNREC_NO_PLOTS=1
/// turns them off (the test suite sets it).
void draw_plots(const std::string& dir);

}  // namespace dnnrec::cli
