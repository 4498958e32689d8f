// The fused MLP tower (see tower.h).
#include "models/tower.h"

#include <cstring>

#include "base/simd.h"
#include "models/models.h"

namespace dnnrec {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Layer {
  torch::Tensor weight, bias;  // bias undefined for Linear(bias=false)
  bool relu = false;
  FastDropoutImpl* dropout = nullptr;
};

// The tower as fusable layers, or false when a module is anything else.
bool plan(torch::nn::Sequential& tower, std::vector<Layer>& layers) {
  for (const auto& module : tower->children()) {
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(module.get())) {
      if (!layers.empty() && !layers.back().relu) return false;  // two Linears in a row
      layers.push_back({linear->weight, linear->bias});
    } else if (dynamic_cast<torch::nn::ReLUImpl*>(module.get()) != nullptr) {
      if (layers.empty() || layers.back().relu) return false;
      layers.back().relu = true;
    } else if (auto* dropout = dynamic_cast<FastDropoutImpl*>(module.get())) {
      if (layers.empty() || !layers.back().relu || layers.back().dropout) return false;
      layers.back().dropout = dropout;
    } else {
      return false;
    }
  }
  if (layers.empty()) return false;
  for (const Layer& layer : layers) {
    const torch::Tensor& w = layer.weight;
    if (!w.device().is_cpu() || w.scalar_type() != torch::kFloat || !w.is_contiguous())
      return false;
  }
  return true;
}

// g = y > 0 ? g * scale : 0 in place (the gradient through relu and the dropout mask, from
// the layer's output y), and bias_grad = the column sums of the result.
// Vectorised along the columns; simd.h picks the copy. The relu mask is applied as a bit mask
// (GCC does not vectorise a select around a product), so a unit at y <= 0 gets exactly 0, as
// in torch, even from a non-finite gradient.
static inline __attribute__((always_inline)) void relu_backward_rows_body(
    float* __restrict g, const float* __restrict y, int64_t rows, int64_t cols, float scale,
    float* __restrict bias_grad) {
  std::fill_n(bias_grad, cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict gr = g + r * cols;
    const float* __restrict yr = y + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float scaled = gr[c] * scale;
      uint32_t bits;
      std::memcpy(&bits, &scaled, sizeof bits);
      bits &= yr[c] > 0.0f ? 0xFFFFFFFFu : 0u;
      float v;
      std::memcpy(&v, &bits, sizeof v);
      gr[c] = v;
      bias_grad[c] += v;
    }
  }
}
DNNREC_SIMD_KERNEL(void, relu_backward_rows,
                   (float* g, const float* y, int64_t rows, int64_t cols, float scale,
                    float* bias_grad),
                   (g, y, rows, cols, scale, bias_grad))

void relu_backward(torch::Tensor& g, const torch::Tensor& y, float scale, float* bias_grad) {
  relu_backward_rows(g.data_ptr<float>(), y.data_ptr<float>(), g.size(0), g.size(1), scale,
                     bias_grad);
}

class Tower : public torch::autograd::Function<Tower> {
 public:
  // params: each layer's weight, then its bias when it has one.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, at::TensorList params,
                               const std::vector<Layer>* layers) {
    std::vector<torch::Tensor> inputs;
    torch::Tensor h = x.contiguous();
    std::vector<double> scales;
    std::vector<int64_t> relu, bias;
    for (const Layer& layer : *layers) {
      inputs.push_back(h);
      h = layer.bias.defined() ? at::addmm(layer.bias, h, layer.weight.t())
                               : at::mm(h, layer.weight.t());
      float scale = 1.0f;
      if (layer.dropout != nullptr) {
        layer.dropout->relu_and_drop(h.data_ptr<float>(), h.numel());
        if (layer.dropout->is_training()) scale = layer.dropout->train_scale();
      } else if (layer.relu) {
        relu_in_place(h.data_ptr<float>(), h.numel());
      }
      scales.push_back(scale);
      relu.push_back(layer.relu);
      bias.push_back(layer.bias.defined());
    }
    // The output is saved detached: saving the returned tensor itself would make a cycle
    // through its grad_fn.
    inputs.push_back(h.detach());
    ctx->saved_data["inputs"] = inputs;
    ctx->saved_data["weights"] = std::vector<torch::Tensor>(params.begin(), params.end());
    ctx->saved_data["scales"] = scales;
    ctx->saved_data["relu"] = relu;
    ctx->saved_data["bias"] = bias;
    return h;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const std::vector<torch::Tensor> inputs = ctx->saved_data["inputs"].toTensorVector();
    const std::vector<torch::Tensor> params = ctx->saved_data["weights"].toTensorVector();
    const std::vector<double> scales = ctx->saved_data["scales"].toDoubleVector();
    const std::vector<int64_t> relu = ctx->saved_data["relu"].toIntVector();
    const std::vector<int64_t> bias = ctx->saved_data["bias"].toIntVector();
    const int64_t n = static_cast<int64_t>(scales.size());
    // Where each layer's weight sits in params.
    std::vector<size_t> at(n);
    for (int64_t l = 0, i = 0; l < n; ++l) {
      at[l] = i;
      i += bias[l] ? 2 : 1;
    }
    variable_list out(1 + params.size() + 1);  // x, params, the layer list
    torch::Tensor g = grads[0].to(torch::kFloat).contiguous().clone();
    for (int64_t l = n - 1; l >= 0; --l) {
      const torch::Tensor& weight = params[at[l]];
      torch::Tensor bias_grad;
      if (bias[l]) bias_grad = torch::empty({weight.size(0)}, g.options());
      if (relu[l]) {
        if (!bias_grad.defined()) bias_grad = torch::empty({weight.size(0)}, g.options());
        relu_backward(g, inputs[l + 1], static_cast<float>(scales[l]), bias_grad.data_ptr<float>());
      } else if (bias_grad.defined()) {
        bias_grad = g.sum(0);
      }
      out[1 + at[l]] = at::mm(g.t(), inputs[l]);
      if (bias[l]) out[1 + at[l] + 1] = bias_grad;
      if (l > 0 || ctx->needs_input_grad(0)) g = at::mm(g, weight);
    }
    out[0] = g;
    return out;
  }
};

}  // namespace

torch::Tensor run_tower(torch::nn::Sequential& tower, const torch::Tensor& x) {
  std::vector<Layer> layers;
  if (!x.device().is_cpu() || x.scalar_type() != torch::kFloat || x.dim() != 2 ||
      !plan(tower, layers)) {
    return tower->forward(x);
  }
  std::vector<torch::Tensor> params;
  for (const Layer& layer : layers) {
    params.push_back(layer.weight);
    if (layer.bias.defined()) params.push_back(layer.bias);
  }
  return Tower::apply(x, at::TensorList(params), &layers);
}

}  // namespace dnnrec
