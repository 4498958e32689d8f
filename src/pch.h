// Precompiled header: <torch/torch.h> costs most of each translation unit's compile time.
#pragma once
#include <torch/torch.h>
