// seqkit's fused CPU kernels: a whole LSTM layer (forward and backward, GEMMs by
// OpenBLAS, element-wise work fused per step) and the linear recurrence
// h_t = a_t * h_{t-1} + b_t in one pass over memory.
// Built by `python -m seqkit.kernels` (make install); see seqkit/kernels/__init__.py.
#define EIGEN_USE_THREADS
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

#include <algorithm>

#include "cblas.h"  // scipy-openblas32: OpenBLAS with scipy_-prefixed symbols

namespace seqkit {
using namespace tensorflow;
using shape_inference::InferenceContext;

template <typename T>
using Vec = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstVec = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Runs fn(begin, end) over [0, rows) on the op's intra-op threads.
template <typename Fn>
void ForRows(OpKernelContext* ctx, int64_t rows, int64_t cost_per_row, Fn fn) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
  Shard(workers->num_threads, workers->workers, rows, cost_per_row, fn);
}

Status SameShapes(InferenceContext* c, int outputs_from, int count) {
  for (int k = 0; k < count; ++k) c->set_output(k, c->input(outputs_from));
  return OkStatus();
}

// OpenBLAS GEMM on row-major matrices: C = op(A) op(B) + beta C.
//
// OpenBLAS runs single-threaded here; the columns of C are cut into a number of
// chunks fixed by the shape and the chunks run on the op's intra-op threads. So the
// rounding of every element depends on the shapes only, never on timing or on
// which other ops call OpenBLAS at the same time (results are reproducible).
const int kSingleThreaded = [] {
  scipy_openblas_set_num_threads(1);
  return 1;
}();

inline void Gemm1(bool ta, bool tb, int m, int n, int k, const float* a, int lda,
                  const float* b, int ldb, float beta, float* c, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
inline void Gemm1(bool ta, bool tb, int m, int n, int k, const double* a, int lda,
                  const double* b, int ldb, double beta, double* c, int ldc) {
  scipy_cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void Gemm(OpKernelContext* ctx, bool ta, bool tb, int m, int n, int k, const T* a, int lda,
          const T* b, int ldb, T beta, T* c, int ldc) {
  constexpr int kChunk = 256;  // columns of C per chunk
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  ForRows(ctx, chunks, int64_t(2) * m * k * kChunk / 4, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int j0 = int(j) * kChunk, width = std::min(kChunk, n - j0);
      Gemm1(ta, tb, m, width, k, a, lda, tb ? b + int64_t(j0) * ldb : b + j0, ldb, beta,
            c + j0, ldc);
    }
  });
}

REGISTER_OP("SeqkitMatMul")
    .Input("a: T")
    .Input("b: T")
    .Output("product: T")  // op(a) op(b), op = transpose where asked
    .Attr("transpose_a: bool = false")
    .Attr("transpose_b: bool = false")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      bool ta, tb;
      TF_RETURN_IF_ERROR(c->GetAttr("transpose_a", &ta));
      TF_RETURN_IF_ERROR(c->GetAttr("transpose_b", &tb));
      shape_inference::ShapeHandle a, b;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &a));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &b));
      c->set_output(0, c->Matrix(c->Dim(a, ta ? 1 : 0), c->Dim(b, tb ? 0 : 1)));
      return OkStatus();
    });

template <typename T>
class MatMulOp : public OpKernel {
 public:
  explicit MatMulOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("transpose_a", &ta_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("transpose_b", &tb_));
  }
  void Compute(OpKernelContext* ctx) override {
    const Tensor &a = ctx->input(0), &b = ctx->input(1);
    OP_REQUIRES(ctx, a.dims() == 2 && b.dims() == 2,
                errors::InvalidArgument("SeqkitMatMul needs matrices, received ",
                                        a.shape().DebugString(), " and ",
                                        b.shape().DebugString()));
    const int64_t m = a.dim_size(ta_ ? 1 : 0), k = a.dim_size(ta_ ? 0 : 1);
    const int64_t kb = b.dim_size(tb_ ? 1 : 0), n = b.dim_size(tb_ ? 0 : 1);
    OP_REQUIRES(ctx, k == kb,
                errors::InvalidArgument("SeqkitMatMul: inner dimensions differ, received ",
                                        a.shape().DebugString(), " and ",
                                        b.shape().DebugString()));
    Tensor* c;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({m, n}), &c));
    if (m == 0 || n == 0) return;
    if (k == 0) {
      c->flat<T>().setZero();
      return;
    }
    Gemm(ctx, ta_, tb_, m, n, k, a.flat<T>().data(), a.dim_size(1), b.flat<T>().data(),
         b.dim_size(1), T(0), c->flat<T>().data(), n);
  }

 private:
  bool ta_, tb_;
};

REGISTER_OP("SeqkitLstmSequence")
    .Input("xp: T")      // (time, batch, 4 units): x W_x + b, gates i, f, g, o
    .Input("h0: T")      // (batch, units)
    .Input("c0: T")
    .Input("kernel: T")  // (units, 4 units): W_h
    .Output("hs: T")     // (time, batch, units)
    .Output("cs: T")
    .Output("acts: T")   // (time, batch, 4 units): sigma(i), sigma(f), tanh(g), sigma(o)
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      auto time = c->Dim(c->input(0), 0);
      c->set_output(0, c->MakeShape({time, c->Dim(c->input(1), 0), c->Dim(c->input(1), 1)}));
      c->set_output(1, c->output(0));
      c->set_output(2, c->input(0));
      return OkStatus();
    });

Status CheckLstmShapes(const Tensor& xp, const Tensor& h0, const Tensor& c0,
                       const Tensor& kernel) {
  if (xp.dims() != 3 || h0.dims() != 2 || h0.shape() != c0.shape() || xp.dim_size(0) < 1 ||
      xp.dim_size(1) != h0.dim_size(0) || xp.dim_size(2) != 4 * h0.dim_size(1) ||
      kernel.dims() != 2 || kernel.dim_size(0) != h0.dim_size(1) ||
      kernel.dim_size(1) != xp.dim_size(2)) {
    return errors::InvalidArgument(
        "seqkit's fused LSTM needs xp (time >= 1, batch, 4 units), h0 and c0 (batch, units) "
        "and kernel (units, 4 units), received ", xp.shape().DebugString(), ", ",
        h0.shape().DebugString(), ", ", c0.shape().DebugString(), ", ",
        kernel.shape().DebugString());
  }
  return OkStatus();
}

template <typename T>
class LstmSequenceOp : public OpKernel {
 public:
  explicit LstmSequenceOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &c0 = ctx->input(2),
                 &kernel = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckLstmShapes(xp, h0, c0, kernel));
    const int64_t time = xp.dim_size(0), rows = h0.dim_size(0), n = h0.dim_size(1);
    Tensor *hs, *cs, *acts;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({time, rows, n}), &hs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({time, rows, n}), &cs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, xp.shape(), &acts));
    const T* w = kernel.flat<T>().data();
    const int64_t step = rows * n;
    for (int64_t t = 0; t < time; ++t) {
      const T* h_prev = t ? hs->flat<T>().data() + (t - 1) * step : h0.flat<T>().data();
      const T* c_prev = t ? cs->flat<T>().data() + (t - 1) * step : c0.flat<T>().data();
      T* z = acts->flat<T>().data() + t * 4 * step;
      std::copy_n(xp.flat<T>().data() + t * 4 * step, 4 * step, z);
      Gemm(ctx, false, false, rows, 4 * n, n, h_prev, n, w, 4 * n, T(1), z, 4 * n);
      T* h_ = hs->flat<T>().data() + t * step;
      T* c_ = cs->flat<T>().data() + t * step;
      ForRows(ctx, rows, 60 * n, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          T* a = z + r * 4 * n;
          Vec<T> i(a, n), f(a + n, n), g(a + 2 * n, n), o(a + 3 * n, n);
          i = i.logistic();
          f = f.logistic();
          g = g.tanh();
          o = o.logistic();
          Vec<T> c(c_ + r * n, n);
          c = f * ConstVec<T>(c_prev + r * n, n) + i * g;
          Vec<T>(h_ + r * n, n) = o * c.tanh();
        }
      });
    }
  }
};

REGISTER_OP("SeqkitLstmSequenceGrad")
    .Input("dhs: T")     // (time, batch, units): gradient of every output h_t
    .Input("dh_last: T") // (batch, units): gradient of the final state h_T
    .Input("dc_last: T")
    .Input("xp: T")      // forward inputs and outputs
    .Input("h0: T")
    .Input("c0: T")
    .Input("kernel: T")
    .Input("hs: T")
    .Input("cs: T")
    .Input("acts: T")
    .Output("dxp: T")    // (time, batch, 4 units): gradient of the pre-activations
    .Output("dh0: T")
    .Output("dc0: T")
    .Output("dkernel: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(3));
      c->set_output(1, c->input(4));
      c->set_output(2, c->input(5));
      c->set_output(3, c->input(6));
      return OkStatus();
    });

template <typename T>
class LstmSequenceGradOp : public OpKernel {
 public:
  explicit LstmSequenceGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(3), &h0 = ctx->input(4), &c0 = ctx->input(5),
                 &kernel = ctx->input(6);
    OP_REQUIRES_OK(ctx, CheckLstmShapes(xp, h0, c0, kernel));
    const int64_t time = xp.dim_size(0), rows = h0.dim_size(0), n = h0.dim_size(1);
    const TensorShape seq({time, rows, n});
    for (int k : {0, 7, 8}) {
      OP_REQUIRES(ctx, ctx->input(k).shape() == seq,
                  errors::InvalidArgument("SeqkitLstmSequenceGrad: input ", k, " has shape ",
                                          ctx->input(k).shape().DebugString(), ", expected ",
                                          seq.DebugString()));
    }
    OP_REQUIRES(ctx, ctx->input(1).shape() == h0.shape() &&
                         ctx->input(2).shape() == h0.shape() &&
                         ctx->input(9).shape() == xp.shape(),
                errors::InvalidArgument("SeqkitLstmSequenceGrad: mismatched state shapes"));
    Tensor *dxp, *dh0, *dc0, *dkernel;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xp.shape(), &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, h0.shape(), &dh0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, c0.shape(), &dc0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, kernel.shape(), &dkernel));
    const int64_t step = rows * n;
    T* dh = dh0->flat<T>().data();  // the carried gradients live in the outputs
    T* dc = dc0->flat<T>().data();
    std::copy_n(ctx->input(1).flat<T>().data(), step, dh);
    std::copy_n(ctx->input(2).flat<T>().data(), step, dc);
    const T* w = kernel.flat<T>().data();
    const T* dhs = ctx->input(0).flat<T>().data();
    const T* hs = ctx->input(7).flat<T>().data();
    const T* cs = ctx->input(8).flat<T>().data();
    const T* acts = ctx->input(9).flat<T>().data();
    T* dz_all = dxp->flat<T>().data();
    for (int64_t t = time - 1; t >= 0; --t) {
      const T* c_prev = t ? cs + (t - 1) * step : c0.flat<T>().data();
      const T* a_t = acts + t * 4 * step;
      const T* c_t = cs + t * step;
      const T* dh_t = dhs + t * step;
      T* dz = dz_all + t * 4 * step;
      ForRows(ctx, rows, 60 * n, [&](int64_t begin, int64_t end) {
        Eigen::Array<T, Eigen::Dynamic, 1> tanh_c(n), dh_r(n), dc_r(n);
        for (int64_t r = begin; r < end; ++r) {
          const T* a = a_t + r * 4 * n;
          ConstVec<T> i(a, n), f(a + n, n), g(a + 2 * n, n), o(a + 3 * n, n);
          T* d = dz + r * 4 * n;
          tanh_c = ConstVec<T>(c_t + r * n, n).tanh();
          dh_r = ConstVec<T>(dh_t + r * n, n) + ConstVec<T>(dh + r * n, n);
          dc_r = ConstVec<T>(dc + r * n, n) + dh_r * o * (T(1) - tanh_c * tanh_c);
          Vec<T>(d, n) = dc_r * g * i * (T(1) - i);
          Vec<T>(d + n, n) = dc_r * ConstVec<T>(c_prev + r * n, n) * f * (T(1) - f);
          Vec<T>(d + 2 * n, n) = dc_r * i * (T(1) - g * g);
          Vec<T>(d + 3 * n, n) = dh_r * tanh_c * o * (T(1) - o);
          Vec<T>(dc + r * n, n) = dc_r * f;
        }
      });
      // dh_{t-1} = dz_t W_h^T
      Gemm(ctx, false, true, rows, n, 4 * n, dz, 4 * n, w, 4 * n, T(0), dh, n);
    }
    // dW_h = [h_0; h_1 .. h_{T-1}]^T [dz_1 .. dz_T], as one product over the steps.
    T* dw = dkernel->flat<T>().data();
    Gemm(ctx, true, false, n, 4 * n, rows, h0.flat<T>().data(), n, dz_all, 4 * n, T(0), dw, 4 * n);
    if (time > 1) {
      Gemm(ctx, true, false, n, 4 * n, (time - 1) * rows, hs, n, dz_all + 4 * step, 4 * n, T(1),
           dw, 4 * n);
    }
  }
};

REGISTER_OP("SeqkitLinearScan")
    .Input("a: T")  // (batch, time, units)
    .Input("b: T")
    .Output("h: T")  // h_t = a_t h_{t-1} + b_t, h_{-1} = 0
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) { return SameShapes(c, 0, 1); });

REGISTER_OP("SeqkitLinearScanGrad")
    .Input("a: T")
    .Input("h: T")
    .Input("dh: T")
    .Output("da: T")
    .Output("db: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(0));
      return OkStatus();
    });

// Rows are (batch, block of units) pairs, so both cores work even at batch 1.
constexpr int64_t kBlock = 64;

template <typename T>
class LinearScanOp : public OpKernel {
 public:
  explicit LinearScanOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor& a = ctx->input(0);
    const Tensor& b = ctx->input(1);
    OP_REQUIRES(ctx, a.dims() == 3 && a.shape() == b.shape(),
                errors::InvalidArgument("SeqkitLinearScan needs a and b of one shape "
                                        "(batch, time, units), received ",
                                        a.shape().DebugString(), " and ",
                                        b.shape().DebugString()));
    Tensor* h;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, a.shape(), &h));
    const int64_t batch = a.dim_size(0), time = a.dim_size(1), n = a.dim_size(2);
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    const T* a_ = a.flat<T>().data();
    const T* b_ = b.flat<T>().data();
    T* h_ = h->flat<T>().data();
    ForRows(ctx, batch * blocks, 3 * time * kBlock, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t start = (r / blocks) * time * n + (r % blocks) * kBlock;
        const int64_t width = std::min(kBlock, n - (r % blocks) * kBlock);
        for (int64_t j = 0; j < width; ++j) h_[start + j] = b_[start + j];
        for (int64_t t = 1; t < time; ++t) {
          const int64_t at = start + t * n;
          for (int64_t j = 0; j < width; ++j)
            h_[at + j] = a_[at + j] * h_[at - n + j] + b_[at + j];
        }
      }
    });
  }
};

template <typename T>
class LinearScanGradOp : public OpKernel {
 public:
  explicit LinearScanGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor& a = ctx->input(0);
    const Tensor& h = ctx->input(1);
    const Tensor& dh = ctx->input(2);
    OP_REQUIRES(ctx, a.dims() == 3 && a.shape() == h.shape() && a.shape() == dh.shape(),
                errors::InvalidArgument("SeqkitLinearScanGrad needs a, h and dh of one "
                                        "shape (batch, time, units), received ",
                                        a.shape().DebugString(), ", ", h.shape().DebugString(),
                                        ", ", dh.shape().DebugString()));
    Tensor *da, *db;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, a.shape(), &da));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, a.shape(), &db));
    const int64_t batch = a.dim_size(0), time = a.dim_size(1), n = a.dim_size(2);
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    const T* a_ = a.flat<T>().data();
    const T* h_ = h.flat<T>().data();
    const T* dh_ = dh.flat<T>().data();
    T* da_ = da->flat<T>().data();
    T* db_ = db->flat<T>().data();
    ForRows(ctx, batch * blocks, 5 * time * kBlock, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t start = (r / blocks) * time * n + (r % blocks) * kBlock;
        const int64_t width = std::min(kBlock, n - (r % blocks) * kBlock);
        // delta_t = dh_t + a_{t+1} delta_{t+1}; db_t = delta_t; da_t = delta_t h_{t-1}.
        const int64_t last = start + (time - 1) * n;
        for (int64_t j = 0; j < width; ++j) db_[last + j] = dh_[last + j];
        for (int64_t t = time - 2; t >= 0; --t) {
          const int64_t at = start + t * n;
          for (int64_t j = 0; j < width; ++j)
            db_[at + j] = dh_[at + j] + a_[at + n + j] * db_[at + n + j];
        }
        for (int64_t j = 0; j < width; ++j) da_[start + j] = T(0);
        for (int64_t t = 1; t < time; ++t) {
          const int64_t at = start + t * n;
          for (int64_t j = 0; j < width; ++j) da_[at + j] = db_[at + j] * h_[at - n + j];
        }
      }
    });
  }
};

#define REGISTER(T)                                                                      \
  REGISTER_KERNEL_BUILDER(Name("SeqkitMatMul").Device(DEVICE_CPU).TypeConstraint<T>("T"),   \
                          MatMulOp<T>);                                                  \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("SeqkitLstmSequence").Device(DEVICE_CPU).TypeConstraint<T>("T"),              \
      LstmSequenceOp<T>);                                                                \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("SeqkitLstmSequenceGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),          \
      LstmSequenceGradOp<T>);                                                            \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("SeqkitLinearScan").Device(DEVICE_CPU).TypeConstraint<T>("T"), LinearScanOp<T>); \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("SeqkitLinearScanGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),            \
      LinearScanGradOp<T>);
REGISTER(float)
REGISTER(double)
#undef REGISTER

}  // namespace seqkit
