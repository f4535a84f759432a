// seqkit's fused CPU kernels: whole recurrent layers, forward and backward, one op each
// (each intra-op thread runs every step for its batch rows; the step products multiply by
// W_h packed once per op; element-wise work fused per step), mingru/minlstm in one pass
// over memory, and OpenBLAS products (dW over all steps, SeqkitMatMul).
// Built by `python -m seqkit.kernels` (make install); see seqkit/kernels/__init__.py.
#define EIGEN_USE_THREADS
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>

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

// Outputs [0, count) take the shapes of inputs [first, first + count): a gradient op's
// outputs are shaped like the forward inputs it differentiates.
Status ShapesOfInputs(InferenceContext* c, int first, int count) {
  for (int k = 0; k < count; ++k) c->set_output(k, c->input(first + k));
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

// The per-step products of the sequence ops: C = A B (+ C), with B (a recurrent kernel or a
// block of it, K x N) packed once per op into panels of kNr columns, K x kNr contiguous,
// and A (the step's h or δz, a few rows) read in place. A register-blocked kernel of
// kMr rows x kNr columns runs the whole K, on the calling thread (ForBatchRows gives each
// thread its rows). Packing W_h once, instead of inside every GEMM call as a BLAS must,
// is what makes the small products of a recurrence fast.
#if defined(__AVX512F__)
constexpr int kSimdBytes = 64, kMr = 8;
#elif defined(__AVX__)
constexpr int kSimdBytes = 32, kMr = 6;
#else
constexpr int kSimdBytes = 16, kMr = 4;
#endif

template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(kSimdBytes)));
};
template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(kSimdBytes)));
};

template <typename T>
class Packed {
 public:
  static constexpr int kW = kSimdBytes / sizeof(T), kNr = 2 * kW;

  // Packs B = b[0, k) x [0, n), row stride ldb.
  Status Pack(OpKernelContext* ctx, const T* b, int64_t ldb, int64_t k, int64_t n) {
    return Fill(ctx, k, n, [&](int64_t i, int64_t j) { return b[i * ldb + j]; });
  }
  // Packs B = b^T for b[0, n) x [0, k), row stride ldb: the product dz W^T of a backward
  // step with b a block of columns of W.
  Status PackTransposed(OpKernelContext* ctx, const T* b, int64_t ldb, int64_t k, int64_t n) {
    return Fill(ctx, k, n, [&](int64_t i, int64_t j) { return b[j * ldb + i]; });
  }

  // Rows [r0, r1) of C = A B + beta C on the calling thread; a and c point at row 0, with
  // row strides lda and ldc; beta 0 or 1. Each row's sums run in one fixed order, so a
  // row's result does not depend on which rows share the call.
  void MultiplyRows(int64_t r0, int64_t r1, const T* a, int64_t lda, T beta, T* c,
                    int64_t ldc) const {
    for (int64_t p = 0; p < panels_; ++p) Panel(p, r0, r1, a, lda, beta, c, ldc);
  }

 private:
  using V = typename Simd<T>::V;

  void Panel(int64_t p, int64_t r0, int64_t r1, const T* a, int64_t lda, T beta, T* c,
             int64_t ldc) const {
    const T* panel = data_.flat<T>().data() + p * k_ * kNr;
    const int64_t j0 = p * kNr;
    const int width = int(std::min<int64_t>(kNr, n_ - j0));
    int64_t r = r0;
    for (; r + kMr <= r1; r += kMr) {
      Block<kMr>(a + r * lda, lda, panel, width, beta, c + r * ldc + j0, ldc);
    }
    const T* ar = a + r * lda;
    T* cr = c + r * ldc + j0;
    switch (r1 - r) {  // the last rows
      case 1: Block<1>(ar, lda, panel, width, beta, cr, ldc); break;
      case 2: Block<2>(ar, lda, panel, width, beta, cr, ldc); break;
      case 3: Block<3>(ar, lda, panel, width, beta, cr, ldc); break;
      case 4: Block<4>(ar, lda, panel, width, beta, cr, ldc); break;
      case 5: Block<5>(ar, lda, panel, width, beta, cr, ldc); break;
      case 6: Block<6>(ar, lda, panel, width, beta, cr, ldc); break;
      case 7: Block<7>(ar, lda, panel, width, beta, cr, ldc); break;
      default: break;
    }
  }

  template <typename At>
  Status Fill(OpKernelContext* ctx, int64_t k, int64_t n, At at) {
    k_ = k;
    n_ = n;
    panels_ = (n + kNr - 1) / kNr;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(DataTypeToEnum<T>::value,
                                          TensorShape({panels_ * k * kNr}), &data_));
    T* out = data_.flat<T>().data();
    ForRows(ctx, panels_, 4 * k * kNr, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        for (int64_t i = 0; i < k; ++i) {
          T* dst = out + (p * k + i) * kNr;
          for (int64_t j = 0; j < kNr; ++j) dst[j] = p * kNr + j < n ? at(i, p * kNr + j) : T(0);
        }
      }
    });
    return OkStatus();
  }

  // R rows of C, one panel: 2R vector accumulators over the whole K.
  template <int R>
  void Block(const T* a, int64_t lda, const T* panel, int width, T beta, T* c,
             int64_t ldc) const {
    V acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V{};
    for (int64_t i = 0; i < k_; ++i) {
      V b0, b1;
      std::memcpy(&b0, panel + i * kNr, sizeof(V));
      std::memcpy(&b1, panel + i * kNr + kW, sizeof(V));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const T x = a[r * lda + i];
        acc[r][0] += x * b0;
        acc[r][1] += x * b1;
      }
    }
    for (int r = 0; r < R; ++r) {
      T* row = c + r * ldc;
      if (width == kNr) {
        if (beta != T(0)) {
          V c0, c1;
          std::memcpy(&c0, row, sizeof(V));
          std::memcpy(&c1, row + kW, sizeof(V));
          acc[r][0] += c0;
          acc[r][1] += c1;
        }
        std::memcpy(row, &acc[r][0], sizeof(V));
        std::memcpy(row + kW, &acc[r][1], sizeof(V));
      } else {
        T sum[kNr];
        std::memcpy(sum, &acc[r][0], sizeof(V));
        std::memcpy(sum + kW, &acc[r][1], sizeof(V));
        for (int j = 0; j < width; ++j) row[j] = beta != T(0) ? row[j] + sum[j] : sum[j];
      }
    }
  }

  int64_t k_ = 0, n_ = 0, panels_ = 0;
  Tensor data_;
};

// Runs fn(begin, end) over the batch rows [0, rows), one contiguous range per intra-op
// thread, each a multiple of kMr rows. A sequence op's rows are independent at every step
// (row r's h_t needs row r's h_{t-1} only), so each thread runs the whole sequence for its
// rows, with no synchronisation between steps.
template <typename Fn>
void ForBatchRows(OpKernelContext* ctx, int64_t rows, Fn fn) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
  const int64_t groups = (rows + kMr - 1) / kMr;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(workers->num_threads, groups));
  if (threads == 1) return fn(0, rows);
  const int64_t block = (groups + threads - 1) / threads * kMr;
  workers->workers->ParallelFor(rows, tsl::thread::ThreadPool::SchedulingParams::Fixed(block),
                                [&](int64_t begin, int64_t end) { fn(begin, end); });
}

// fn(begin, end) on the calling thread: a step's element-wise pass over the caller's rows.
template <typename Fn>
inline void Rows(int64_t begin, int64_t end, Fn fn) {
  fn(begin, end);
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

// ---------------------------------------------------------------------------------------
// Whole-sequence recurrences. Every op takes the input projections of all steps,
// time-major, xp = x W_x + b of shape (time, batch, gates * units), the initial state(s)
// and the recurrent kernel W_h of shape (units, columns * units). The forward op keeps
// what the backward op needs; the backward op runs the steps in reverse (one GEMM for
// dh_{t-1} per step) and forms dW_h as one product over all steps.

// (time, batch, units): the shape of a state sequence, from xp (input 0) and h0 (input 1).
shape_inference::ShapeHandle StateSequence(InferenceContext* c) {
  return c->MakeShape({c->Dim(c->input(0), 0), c->Dim(c->input(1), 0), c->Dim(c->input(1), 1)});
}

// Checks that every tensor has its expected shape; the error names the received one.
struct Expected {
  const char* name;
  const Tensor* tensor;
  TensorShape shape;
};

Status CheckShapes(const char* op, std::initializer_list<Expected> expected) {
  for (const Expected& e : expected) {
    if (e.tensor->shape() != e.shape) {
      return errors::InvalidArgument(op, ": ", e.name, " must have shape ",
                                     e.shape.DebugString(), ", received ",
                                     e.tensor->shape().DebugString());
    }
  }
  return OkStatus();
}

// The sizes every sequence op reads from xp (time, batch, gates * units) and h0.
struct Sizes {
  int64_t time, rows, n, step;
};

Status ReadSizes(const char* op, const Tensor& xp, const Tensor& h0, int64_t gates,
                 int64_t kernel_columns, const Tensor& kernel, Sizes* s) {
  if (xp.dims() != 3 || h0.dims() != 2 || xp.dim_size(0) < 1 ||
      xp.dim_size(1) != h0.dim_size(0) || xp.dim_size(2) != gates * h0.dim_size(1) ||
      kernel.dims() != 2 || kernel.dim_size(0) != h0.dim_size(1) ||
      kernel.dim_size(1) != kernel_columns * h0.dim_size(1)) {
    return errors::InvalidArgument(
        op, " needs xp (time >= 1, batch, ", gates, " units), h0 (batch, units) and kernel "
        "(units, ", kernel_columns, " units), received ", xp.shape().DebugString(), ", ",
        h0.shape().DebugString(), ", ", kernel.shape().DebugString());
  }
  *s = {xp.dim_size(0), xp.dim_size(1), h0.dim_size(1), xp.dim_size(1) * h0.dim_size(1)};
  return OkStatus();
}

// dW (+)= [h_{-1}; h_0 .. h_{T-2}]^T dz for columns [0, cols) of dz (row stride ldz), as
// two GEMMs (h0, then the stored h_0 .. h_{T-2}), written to dw with row stride ldw.
template <typename T>
void GemmPrevT(OpKernelContext* ctx, const Sizes& s, const T* h0, const T* hs, const T* dz,
               int ldz, int cols, T beta, T* dw, int ldw) {
  Gemm(ctx, true, false, s.n, cols, s.rows, h0, s.n, dz, ldz, beta, dw, ldw);
  if (s.time > 1) {
    Gemm(ctx, true, false, s.n, cols, (s.time - 1) * s.rows, hs, s.n, dz + s.rows * ldz, ldz,
         T(1), dw, ldw);
  }
}

template <typename T>
T* Data(Tensor* t) { return t->flat<T>().data(); }
template <typename T>
const T* Data(const Tensor& t) { return t.flat<T>().data(); }

// An op kernel whose attributes are read once, at construction, into a Form.
template <typename Form>
class FormKernel : public OpKernel {
 public:
  explicit FormKernel(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, form_.Read(ctx));
  }

 protected:
  Form form_;
};

// The LSTM and Greff et al.'s variants. Gates present (in Keras' order i, f, g, o) have
// columns in xp and the kernel; absent ones are constants (i = 1, f = 1 or 1 - i, o = 1).
struct LstmForm {
  bool input_gate, output_gate, input_activation, output_activation, peepholes;
  std::string forget_gate;  // "learned", "none" or "coupled"
  int ci, cf, cg, co, gates;  // column block of each gate (-1: absent), their count

  Status Read(OpKernelConstruction* ctx) {
    TF_RETURN_IF_ERROR(ctx->GetAttr("input_gate", &input_gate));
    TF_RETURN_IF_ERROR(ctx->GetAttr("forget_gate", &forget_gate));
    TF_RETURN_IF_ERROR(ctx->GetAttr("output_gate", &output_gate));
    TF_RETURN_IF_ERROR(ctx->GetAttr("input_activation", &input_activation));
    TF_RETURN_IF_ERROR(ctx->GetAttr("output_activation", &output_activation));
    TF_RETURN_IF_ERROR(ctx->GetAttr("peepholes", &peepholes));
    if (forget_gate == "coupled" && !input_gate) {
      return errors::InvalidArgument("a coupled forget gate (f = 1 - i) needs the input gate");
    }
    int k = 0;
    ci = input_gate ? k++ : -1;
    cf = forget_gate == "learned" ? k++ : -1;
    cg = k++;
    co = output_gate ? k++ : -1;
    gates = k;
    return OkStatus();
  }
};

#define SEQKIT_LSTM_ATTRS                                        \
  Attr("input_gate: bool = true")                                \
      .Attr("forget_gate: {'learned', 'none', 'coupled'} = 'learned'") \
      .Attr("output_gate: bool = true")                          \
      .Attr("input_activation: bool = true")                     \
      .Attr("output_activation: bool = true")                    \
      .Attr("peepholes: bool = false")                           \
      .Attr("T: {float, double}")

REGISTER_OP("SeqkitLstmSequence")
    .Input("xp: T")         // (time, batch, gates units)
    .Input("h0: T")         // (batch, units)
    .Input("c0: T")
    .Input("kernel: T")     // (units, gates units): W_h
    .Input("peephole: T")   // (3, units): p_i, p_f, p_o (read only with peepholes)
    .Output("hs: T")        // (time, batch, units)
    .Output("cs: T")
    .Output("acts: T")      // (time, batch, gates units): the gates' values
    .SEQKIT_LSTM_ATTRS
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, StateSequence(c));
      c->set_output(1, c->output(0));
      c->set_output(2, c->input(0));
      return OkStatus();
    });

template <typename T>
class LstmSequenceOp : public FormKernel<LstmForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &c0 = ctx->input(2),
                 &kernel = ctx->input(3), &peephole = ctx->input(4);
    Sizes s;
    const int G = form_.gates;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitLstmSequence", xp, h0, G, G, kernel, &s));
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitLstmSequence",
                                    {{"c0", &c0, h0.shape()},
                                     {"peephole", &peephole, TensorShape({3, s.n})}}));
    Tensor *hs, *cs, *acts;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({s.time, s.rows, s.n}), &hs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({s.time, s.rows, s.n}), &cs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, xp.shape(), &acts));
    const int64_t n = s.n;
    Packed<T> w;
    OP_REQUIRES_OK(ctx, w.Pack(ctx, Data<T>(kernel), G * n, n, G * n));
    const T* p = Data<T>(peephole);
    const LstmForm& F = form_;
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < s.time; ++t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      const T* c_prev = t ? Data<T>(cs) + (t - 1) * s.step : Data<T>(c0);
      T* z = Data<T>(acts) + t * G * s.step;
      std::copy_n(Data<T>(xp) + t * G * s.step + b0 * G * n, (b1 - b0) * G * n, z + b0 * G * n);
      w.MultiplyRows(b0, b1, h_prev, n, T(1), z, G * n);
      T* h_ = Data<T>(hs) + t * s.step;
      T* c_ = Data<T>(cs) + t * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          T* a = z + r * G * n;
          ConstVec<T> cp(c_prev + r * n, n);
          Vec<T> c(c_ + r * n, n), g(a + F.cg * n, n);
          if (F.input_activation) g = g.tanh();
          if (F.ci >= 0) {
            Vec<T> i(a + F.ci * n, n);
            if (F.peepholes) i += ConstVec<T>(p, n) * cp;
            i = i.logistic();
            c = i * g;
          } else {
            c = g;
          }
          if (F.cf >= 0) {
            Vec<T> f(a + F.cf * n, n);
            if (F.peepholes) f += ConstVec<T>(p + n, n) * cp;
            f = f.logistic();
            c += f * cp;
          } else if (F.forget_gate == "coupled") {
            c += (T(1) - ConstVec<T>(a + F.ci * n, n)) * cp;
          } else {
            c += cp;
          }
          Vec<T> h(h_ + r * n, n);
          if (F.output_activation) h = c.tanh(); else h = c;
          if (F.co >= 0) {
            Vec<T> o(a + F.co * n, n);
            if (F.peepholes) o += ConstVec<T>(p + 2 * n, n) * c;
            o = o.logistic();
            h *= o;
          }
        }
      });
    }
    });
  }
};

REGISTER_OP("SeqkitLstmSequenceGrad")
    .Input("dhs: T")      // (time, batch, units): gradient of every output h_t
    .Input("dh_last: T")  // (batch, units): gradient of the final state h_T
    .Input("dc_last: T")
    .Input("xp: T")       // forward inputs and outputs
    .Input("h0: T")
    .Input("c0: T")
    .Input("kernel: T")
    .Input("peephole: T")
    .Input("hs: T")
    .Input("cs: T")
    .Input("acts: T")
    .Output("dxp: T")     // (time, batch, gates units): gradient of the pre-activations
    .Output("dh0: T")
    .Output("dc0: T")
    .Output("dkernel: T")
    .SEQKIT_LSTM_ATTRS
    .SetShapeFn([](InferenceContext* c) { return ShapesOfInputs(c, 3, 4); });

template <typename T>
class LstmSequenceGradOp : public FormKernel<LstmForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(3), &h0 = ctx->input(4), &c0 = ctx->input(5),
                 &kernel = ctx->input(6), &peephole = ctx->input(7);
    Sizes s;
    const int G = form_.gates;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitLstmSequenceGrad", xp, h0, G, G, kernel, &s));
    const TensorShape seq({s.time, s.rows, s.n});
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitLstmSequenceGrad",
                                    {{"dhs", &ctx->input(0), seq},
                                     {"dh_last", &ctx->input(1), h0.shape()},
                                     {"dc_last", &ctx->input(2), h0.shape()},
                                     {"c0", &c0, h0.shape()},
                                     {"peephole", &peephole, TensorShape({3, s.n})},
                                     {"hs", &ctx->input(8), seq},
                                     {"cs", &ctx->input(9), seq},
                                     {"acts", &ctx->input(10), xp.shape()}}));
    Tensor *dxp, *dh0, *dc0, *dkernel;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xp.shape(), &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, h0.shape(), &dh0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, c0.shape(), &dc0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, kernel.shape(), &dkernel));
    const int64_t n = s.n;
    Packed<T> wt;  // W_h^T
    OP_REQUIRES_OK(ctx, wt.PackTransposed(ctx, Data<T>(kernel), G * n, G * n, n));
    T* dh = Data<T>(dh0);  // the carried gradients live in the outputs
    T* dc = Data<T>(dc0);
    std::copy_n(Data<T>(ctx->input(1)), s.step, dh);
    std::copy_n(Data<T>(ctx->input(2)), s.step, dc);
    const T* p = Data<T>(peephole);
    const T* dhs = Data<T>(ctx->input(0));
    const T* cs = Data<T>(ctx->input(9));
    const T* acts = Data<T>(ctx->input(10));
    T* dz_all = Data<T>(dxp);
    const LstmForm& F = form_;
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = s.time - 1; t >= 0; --t) {
      const T* c_prev = t ? cs + (t - 1) * s.step : Data<T>(c0);
      const T* a_t = acts + t * G * s.step;
      const T* c_t = cs + t * s.step;
      const T* dh_t = dhs + t * s.step;
      T* dz = dz_all + t * G * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        Eigen::Array<T, Eigen::Dynamic, 1> out(n), dh_r(n), dc_r(n);
        for (int64_t r = begin; r < end; ++r) {
          const T* a = a_t + r * G * n;
          T* d = dz + r * G * n;
          ConstVec<T> cp(c_prev + r * n, n), g(a + F.cg * n, n);
          if (F.output_activation) out = ConstVec<T>(c_t + r * n, n).tanh();
          else out = ConstVec<T>(c_t + r * n, n);
          dh_r = ConstVec<T>(dh_t + r * n, n) + ConstVec<T>(dh + r * n, n);
          // dc = dc_carry + dh o out'(c) [+ dz_o p_o]
          if (F.co >= 0) {
            ConstVec<T> o(a + F.co * n, n);
            Vec<T>(d + F.co * n, n) = dh_r * out * o * (T(1) - o);
            dc_r = dh_r * o;
          } else {
            dc_r = dh_r;
          }
          if (F.output_activation) dc_r *= T(1) - out * out;
          if (F.co >= 0 && F.peepholes) {
            dc_r += ConstVec<T>(d + F.co * n, n) * ConstVec<T>(p + 2 * n, n);
          }
          dc_r += ConstVec<T>(dc + r * n, n);
          Vec<T> dzg(d + F.cg * n, n), dc_next(dc + r * n, n);
          if (F.ci >= 0) {
            ConstVec<T> i(a + F.ci * n, n);
            Vec<T> dzi(d + F.ci * n, n);
            dzg = dc_r * i;
            dzi = F.forget_gate == "coupled" ? (dc_r * (g - cp)).eval() : (dc_r * g).eval();
            dzi *= i * (T(1) - i);
          } else {
            dzg = dc_r;
          }
          if (F.input_activation) dzg *= T(1) - g * g;
          if (F.cf >= 0) {
            ConstVec<T> f(a + F.cf * n, n);
            Vec<T>(d + F.cf * n, n) = dc_r * cp * f * (T(1) - f);
            dc_next = dc_r * f;
          } else if (F.forget_gate == "coupled") {
            dc_next = dc_r * (T(1) - ConstVec<T>(a + F.ci * n, n));
          } else {
            dc_next = dc_r;
          }
          if (F.peepholes) {
            if (F.ci >= 0) dc_next += ConstVec<T>(d + F.ci * n, n) * ConstVec<T>(p, n);
            if (F.cf >= 0) dc_next += ConstVec<T>(d + F.cf * n, n) * ConstVec<T>(p + n, n);
          }
        }
      });
      // dh_{t-1} = dz_t W_h^T
      wt.MultiplyRows(b0, b1, dz, G * n, T(0), dh, n);
    }
    });
    GemmPrevT(ctx, s, Data<T>(h0), Data<T>(ctx->input(8)), dz_all, G * n, G * n, T(0),
              Data<T>(dkernel), G * n);
  }
};

// Full gate recurrence (Greff et al.'s FGR): the peephole LSTM whose gates i, f, o also
// read all three gates' previous values q_{t-1} = [i, f, o]_{t-1} through W_g (3n, 3n;
// rows: source gate, columns: target gate). In acts (Keras' i, f, g, o columns) the
// gates of q are columns [0, 2n) and [3n, 4n), so each product with q, or with the
// gradient of its targets, is two products: one on the i, f block, one on the o block.
REGISTER_OP("SeqkitFgrSequence")
    .Input("xp: T")           // (time, batch, 4 units)
    .Input("h0: T")           // (batch, units)
    .Input("c0: T")
    .Input("q0: T")           // (batch, 3 units): i, f, o before the first step
    .Input("kernel: T")       // (units, 4 units): W_h
    .Input("gate_kernel: T")  // (3 units, 3 units): W_g
    .Input("peephole: T")     // (3, units): p_i, p_f, p_o
    .Output("hs: T")
    .Output("cs: T")
    .Output("acts: T")        // (time, batch, 4 units): i, f, g, o
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, StateSequence(c));
      c->set_output(1, c->output(0));
      c->set_output(2, c->input(0));
      return OkStatus();
    });

// Checks the inputs every FGR op shares; reads the sizes.
Status FgrSizes(const char* op, OpKernelContext* ctx, int xp_at, Sizes* s) {
  const Tensor &xp = ctx->input(xp_at), &h0 = ctx->input(xp_at + 1);
  TF_RETURN_IF_ERROR(ReadSizes(op, xp, h0, 4, 4, ctx->input(xp_at + 4), s));
  const int64_t n = s->n;
  return CheckShapes(op, {{"c0", &ctx->input(xp_at + 2), h0.shape()},
                          {"q0", &ctx->input(xp_at + 3), TensorShape({s->rows, 3 * n})},
                          {"gate_kernel", &ctx->input(xp_at + 5), TensorShape({3 * n, 3 * n})},
                          {"peephole", &ctx->input(xp_at + 6), TensorShape({3, n})}});
}

template <typename T>
class FgrSequenceOp : public OpKernel {
 public:
  explicit FgrSequenceOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    Sizes s;
    OP_REQUIRES_OK(ctx, FgrSizes("SeqkitFgrSequence", ctx, 0, &s));
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &c0 = ctx->input(2),
                 &q0 = ctx->input(3);
    const int64_t n = s.n;
    Tensor *hs, *cs, *acts, fb;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({s.time, s.rows, n}), &hs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({s.time, s.rows, n}), &cs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, xp.shape(), &acts));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({s.rows, 3 * n}), &fb));  // q W_g
    Packed<T> w, wg_if, wg_o;  // W_h; the rows of W_g from i, f and from o
    const T* wg = Data<T>(ctx->input(5));
    OP_REQUIRES_OK(ctx, w.Pack(ctx, Data<T>(ctx->input(4)), 4 * n, n, 4 * n));
    OP_REQUIRES_OK(ctx, wg_if.Pack(ctx, wg, 3 * n, 2 * n, 3 * n));
    OP_REQUIRES_OK(ctx, wg_o.Pack(ctx, wg + 2 * n * 3 * n, 3 * n, n, 3 * n));
    const T* p = Data<T>(ctx->input(6));
    T* fb_ = Data<T>(&fb);
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < s.time; ++t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      const T* c_prev = t ? Data<T>(cs) + (t - 1) * s.step : Data<T>(c0);
      // q_{t-1}: the i, f block and the o block, row stride lq
      const T* q_if = t ? Data<T>(acts) + (t - 1) * 4 * s.step : Data<T>(q0);
      const T* q_o = t ? q_if + 3 * n : q_if + 2 * n;
      const int64_t lq = t ? 4 * n : 3 * n;
      T* z = Data<T>(acts) + t * 4 * s.step;
      std::copy_n(Data<T>(xp) + t * 4 * s.step + b0 * 4 * n, (b1 - b0) * 4 * n, z + b0 * 4 * n);
      w.MultiplyRows(b0, b1, h_prev, n, T(1), z, 4 * n);
      wg_if.MultiplyRows(b0, b1, q_if, lq, T(0), fb_, 3 * n);
      wg_o.MultiplyRows(b0, b1, q_o, lq, T(1), fb_, 3 * n);
      T* h_ = Data<T>(hs) + t * s.step;
      T* c_ = Data<T>(cs) + t * s.step;
      for (int64_t r = b0; r < b1; ++r) {
        T* a = z + r * 4 * n;
        const T* f_r = fb_ + r * 3 * n;
        ConstVec<T> cp(c_prev + r * n, n);
        Vec<T> i(a, n), f(a + n, n), g(a + 2 * n, n), o(a + 3 * n, n), c(c_ + r * n, n);
        i = (i + ConstVec<T>(f_r, n) + ConstVec<T>(p, n) * cp).logistic();
        f = (f + ConstVec<T>(f_r + n, n) + ConstVec<T>(p + n, n) * cp).logistic();
        g = g.tanh();
        c = f * cp + i * g;
        o = (o + ConstVec<T>(f_r + 2 * n, n) + ConstVec<T>(p + 2 * n, n) * c).logistic();
        Vec<T>(h_ + r * n, n) = o * c.tanh();
      }
    }
    });
  }
};

REGISTER_OP("SeqkitFgrSequenceGrad")
    .Input("dhs: T")      // (time, batch, units)
    .Input("dh_last: T")  // (batch, units): gradients of the final states h, c, q
    .Input("dc_last: T")
    .Input("dq_last: T")  // (batch, 3 units)
    .Input("xp: T")       // forward inputs and outputs
    .Input("h0: T")
    .Input("c0: T")
    .Input("q0: T")
    .Input("kernel: T")
    .Input("gate_kernel: T")
    .Input("peephole: T")
    .Input("hs: T")
    .Input("cs: T")
    .Input("acts: T")
    .Output("dxp: T")     // gradient of the pre-activations (without the feedback)
    .Output("dh0: T")
    .Output("dc0: T")
    .Output("dq0: T")
    .Output("dkernel: T")
    .Output("dgate_kernel: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) { return ShapesOfInputs(c, 4, 6); });

template <typename T>
class FgrSequenceGradOp : public OpKernel {
 public:
  explicit FgrSequenceGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    Sizes s;
    OP_REQUIRES_OK(ctx, FgrSizes("SeqkitFgrSequenceGrad", ctx, 4, &s));
    const int64_t n = s.n;
    const TensorShape seq({s.time, s.rows, n});
    const Tensor &xp = ctx->input(4), &h0 = ctx->input(5), &q0 = ctx->input(7);
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitFgrSequenceGrad",
                                    {{"dhs", &ctx->input(0), seq},
                                     {"dh_last", &ctx->input(1), h0.shape()},
                                     {"dc_last", &ctx->input(2), h0.shape()},
                                     {"dq_last", &ctx->input(3), q0.shape()},
                                     {"hs", &ctx->input(11), seq},
                                     {"cs", &ctx->input(12), seq},
                                     {"acts", &ctx->input(13), xp.shape()}}));
    Tensor *dxp, *dh0, *dc0, *dq0, *dkernel, *dgate;
    Tensor** outputs[] = {&dxp, &dh0, &dc0, &dq0, &dkernel, &dgate};  // shaped as inputs 4..9
    for (int k = 0; k < 6; ++k) {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(k, ctx->input(4 + k).shape(), outputs[k]));
    }
    const T* wg = Data<T>(ctx->input(9));
    Packed<T> wt, wgt_if, wgt_o;  // W_h^T; W_g^T for the i, f targets and for the o target
    OP_REQUIRES_OK(ctx, wt.PackTransposed(ctx, Data<T>(ctx->input(8)), 4 * n, 4 * n, n));
    OP_REQUIRES_OK(ctx, wgt_if.PackTransposed(ctx, wg, 3 * n, 2 * n, 3 * n));
    OP_REQUIRES_OK(ctx, wgt_o.PackTransposed(ctx, wg + 2 * n, 3 * n, n, 3 * n));
    T *dh = Data<T>(dh0), *dc = Data<T>(dc0), *dq = Data<T>(dq0);  // carried gradients
    std::copy_n(Data<T>(ctx->input(1)), s.step, dh);
    std::copy_n(Data<T>(ctx->input(2)), s.step, dc);
    std::copy_n(Data<T>(ctx->input(3)), 3 * s.step, dq);
    const T* p = Data<T>(ctx->input(10));
    const T *dhs = Data<T>(ctx->input(0)), *cs = Data<T>(ctx->input(12)),
            *acts = Data<T>(ctx->input(13));
    T* dz_all = Data<T>(dxp);
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    Eigen::Array<T, Eigen::Dynamic, 1> out(n), dh_r(n), dc_r(n);
    for (int64_t t = s.time - 1; t >= 0; --t) {
      const T* c_prev = t ? cs + (t - 1) * s.step : Data<T>(ctx->input(6));
      const T* a_t = acts + t * 4 * s.step;
      T* dz = dz_all + t * 4 * s.step;
      for (int64_t r = b0; r < b1; ++r) {
        const T* a = a_t + r * 4 * n;
        T* d = dz + r * 4 * n;
        ConstVec<T> i(a, n), f(a + n, n), g(a + 2 * n, n), o(a + 3 * n, n), cp(c_prev + r * n, n);
        const T* dq_r = dq + r * 3 * n;  // ∂L/∂[i, f, o]_t through the next step's feedback
        out = ConstVec<T>(cs + t * s.step + r * n, n).tanh();
        dh_r = ConstVec<T>(dhs + t * s.step + r * n, n) + ConstVec<T>(dh + r * n, n);
        Vec<T> dzi(d, n), dzf(d + n, n), dzg(d + 2 * n, n), dzo(d + 3 * n, n);
        dzo = (dh_r * out + ConstVec<T>(dq_r + 2 * n, n)) * o * (T(1) - o);
        dc_r = dh_r * o * (T(1) - out * out) + dzo * ConstVec<T>(p + 2 * n, n) +
               ConstVec<T>(dc + r * n, n);
        dzi = (dc_r * g + ConstVec<T>(dq_r, n)) * i * (T(1) - i);
        dzf = (dc_r * cp + ConstVec<T>(dq_r + n, n)) * f * (T(1) - f);
        dzg = dc_r * i * (T(1) - g * g);
        Vec<T>(dc + r * n, n) = dc_r * f + dzi * ConstVec<T>(p, n) + dzf * ConstVec<T>(p + n, n);
      }
      // dh_{t-1} = dz_t W_h^T; dq_{t-1} = [dz_i, dz_f] W_g[:, i f]^T + dz_o W_g[:, o]^T
      wt.MultiplyRows(b0, b1, dz, 4 * n, T(0), dh, n);
      wgt_if.MultiplyRows(b0, b1, dz, 4 * n, T(0), dq, 3 * n);
      wgt_o.MultiplyRows(b0, b1, dz + 3 * n, 4 * n, T(1), dq, 3 * n);
    }
    });
    GemmPrevT(ctx, s, Data<T>(h0), Data<T>(ctx->input(11)), dz_all, 4 * n, 4 * n, T(0),
              Data<T>(dkernel), 4 * n);
    // dW_g = Σ_t q_{t-1}^T [dz_i, dz_f, dz_o]_t, by blocks: sources (i f | o) x targets (i f | o)
    T* dwg = Data<T>(dgate);
    const T* q0_ = Data<T>(q0);
    const int64_t later = (s.time - 1) * s.rows;  // rows of steps 1 .. T-1
    for (int src = 0; src < 2; ++src) {
      for (int dst = 0; dst < 2; ++dst) {
        const int m = src ? n : 2 * n, cols = dst ? n : 2 * n;
        T* block = dwg + (src ? 2 * n : 0) * 3 * n + (dst ? 2 * n : 0);
        const T* target = dz_all + (dst ? 3 * n : 0);
        Gemm(ctx, true, false, m, cols, s.rows, q0_ + (src ? 2 * n : 0), 3 * n, target, 4 * n,
             T(0), block, 3 * n);
        if (later > 0) {
          Gemm(ctx, true, false, m, cols, later, acts + (src ? 3 * n : 0), 4 * n,
               target + s.rows * 4 * n, 4 * n, T(1), block, 3 * n);
        }
      }
    }
  }
};

// The Elman RNN: h_t = act(xp_t + h_{t-1} W_h), act tanh or relu.
struct RnnForm {
  bool relu;  // else tanh

  Status Read(OpKernelConstruction* ctx) {
    std::string activation;
    TF_RETURN_IF_ERROR(ctx->GetAttr("activation", &activation));
    relu = activation == "relu";
    return OkStatus();
  }
};

REGISTER_OP("SeqkitRnnSequence")
    .Input("xp: T")      // (time, batch, units)
    .Input("h0: T")
    .Input("kernel: T")  // (units, units)
    .Output("hs: T")
    .Attr("activation: {'tanh', 'relu'} = 'tanh'")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) { return ShapesOfInputs(c, 0, 1); });

template <typename T>
class RnnSequenceOp : public FormKernel<RnnForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &kernel = ctx->input(2);
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitRnnSequence", xp, h0, 1, 1, kernel, &s));
    Tensor* hs;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xp.shape(), &hs));
    const bool relu = form_.relu;
    Packed<T> w;
    OP_REQUIRES_OK(ctx, w.Pack(ctx, Data<T>(kernel), s.n, s.n, s.n));
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < s.time; ++t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      T* h = Data<T>(hs) + t * s.step;
      std::copy_n(Data<T>(xp) + t * s.step + b0 * s.n, (b1 - b0) * s.n, h + b0 * s.n);
      w.MultiplyRows(b0, b1, h_prev, s.n, T(1), h, s.n);
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        Vec<T> v(h + begin * s.n, (end - begin) * s.n);
        if (relu) v = v.max(T(0)); else v = v.tanh();
      });
    }
    });
  }
};

REGISTER_OP("SeqkitRnnSequenceGrad")
    .Input("dhs: T")
    .Input("dh_last: T")
    .Input("h0: T")
    .Input("kernel: T")
    .Input("hs: T")
    .Output("dxp: T")
    .Output("dh0: T")
    .Output("dkernel: T")
    .Attr("activation: {'tanh', 'relu'} = 'tanh'")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(4));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      return OkStatus();
    });

template <typename T>
class RnnSequenceGradOp : public FormKernel<RnnForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &hs = ctx->input(4), &h0 = ctx->input(2), &kernel = ctx->input(3);
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitRnnSequenceGrad", hs, h0, 1, 1, kernel, &s));
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitRnnSequenceGrad",
                                    {{"dhs", &ctx->input(0), hs.shape()},
                                     {"dh_last", &ctx->input(1), h0.shape()}}));
    Tensor *dxp, *dh0, *dkernel;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, hs.shape(), &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, h0.shape(), &dh0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, kernel.shape(), &dkernel));
    Packed<T> wt;  // W_h^T
    OP_REQUIRES_OK(ctx, wt.PackTransposed(ctx, Data<T>(kernel), s.n, s.n, s.n));
    const bool relu = form_.relu;
    T* dh = Data<T>(dh0);
    std::copy_n(Data<T>(ctx->input(1)), s.step, dh);
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = s.time - 1; t >= 0; --t) {
      T* dz = Data<T>(dxp) + t * s.step;
      const T* h = Data<T>(hs) + t * s.step;
      const T* dh_t = Data<T>(ctx->input(0)) + t * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        const int64_t at = begin * s.n, count = (end - begin) * s.n;
        ConstVec<T> hv(h + at, count);
        Vec<T> d(dz + at, count);
        d = ConstVec<T>(dh_t + at, count) + ConstVec<T>(dh + at, count);
        if (relu) d *= (hv > T(0)).template cast<T>(); else d *= T(1) - hv * hv;
      });
      wt.MultiplyRows(b0, b1, dz, s.n, T(0), dh, s.n);
    }
    });
    GemmPrevT(ctx, s, Data<T>(h0), Data<T>(hs), Data<T>(dxp), s.n, s.n, T(0),
              Data<T>(dkernel), s.n);
  }
};

// The GRU with the reset gate after the matmul (Keras' default, cuDNN's form):
// g = h W_h + b_hh; z, r = σ(xp + g); h̃ = tanh(xp_h + r g_h); h' = z h + (1 − z) h̃.
REGISTER_OP("SeqkitGruSequence")
    .Input("xp: T")      // (time, batch, 3 units): z, r, h
    .Input("h0: T")
    .Input("kernel: T")  // (units, 3 units)
    .Input("rbias: T")   // (3 units): the recurrent biases b_hz, b_hr, b_hh
    .Output("hs: T")
    .Output("acts: T")   // (time, batch, 4 units): z, r, h̃, g_h
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, StateSequence(c));
      shape_inference::DimensionHandle width;
      TF_RETURN_IF_ERROR(c->Multiply(c->Dim(c->input(1), 1), 4, &width));
      c->set_output(1, c->MakeShape({c->Dim(c->input(0), 0), c->Dim(c->input(1), 0), width}));
      return OkStatus();
    });

template <typename T>
class GruSequenceOp : public OpKernel {
 public:
  explicit GruSequenceOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &kernel = ctx->input(2),
                 &rbias = ctx->input(3);
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitGruSequence", xp, h0, 3, 3, kernel, &s));
    const int64_t n = s.n;
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitGruSequence", {{"rbias", &rbias, TensorShape({3 * n})}}));
    Tensor *hs, *acts, g;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({s.time, s.rows, n}), &hs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({s.time, s.rows, 4 * n}), &acts));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({s.rows, 3 * n}), &g));
    const T* b = Data<T>(rbias);
    Packed<T> w;
    OP_REQUIRES_OK(ctx, w.Pack(ctx, Data<T>(kernel), 3 * n, n, 3 * n));
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < s.time; ++t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      w.MultiplyRows(b0, b1, h_prev, n, T(0), Data<T>(&g), 3 * n);
      const T* x_t = Data<T>(xp) + t * 3 * s.step;
      T* a_t = Data<T>(acts) + t * 4 * s.step;
      T* h_t = Data<T>(hs) + t * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* x = x_t + r * 3 * n;
          const T* gr = Data<T>(&g) + r * 3 * n;
          T* a = a_t + r * 4 * n;
          Vec<T> z(a, n), rg(a + n, n), cand(a + 2 * n, n), gh(a + 3 * n, n);
          z = (ConstVec<T>(x, n) + ConstVec<T>(gr, n) + ConstVec<T>(b, n)).logistic();
          rg = (ConstVec<T>(x + n, n) + ConstVec<T>(gr + n, n) + ConstVec<T>(b + n, n))
                   .logistic();
          gh = ConstVec<T>(gr + 2 * n, n) + ConstVec<T>(b + 2 * n, n);
          cand = (ConstVec<T>(x + 2 * n, n) + rg * gh).tanh();
          Vec<T>(h_t + r * n, n) = z * ConstVec<T>(h_prev + r * n, n) + (T(1) - z) * cand;
        }
      });
    }
    });
  }
};

REGISTER_OP("SeqkitGruSequenceGrad")
    .Input("dhs: T")
    .Input("dh_last: T")
    .Input("h0: T")
    .Input("kernel: T")
    .Input("hs: T")
    .Input("acts: T")
    .Output("dxp: T")  // (time, batch, 3 units)
    .Output("dg: T")   // (time, batch, 3 units): gradient of h W_h + b_hh
    .Output("dh0: T")
    .Output("dkernel: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      auto shape = c->MakeShape({c->Dim(c->input(4), 0), c->Dim(c->input(4), 1),
                                 c->Dim(c->input(3), 1)});
      c->set_output(0, shape);
      c->set_output(1, shape);
      c->set_output(2, c->input(2));
      c->set_output(3, c->input(3));
      return OkStatus();
    });

template <typename T>
class GruSequenceGradOp : public OpKernel {
 public:
  explicit GruSequenceGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &hs = ctx->input(4), &h0 = ctx->input(2), &kernel = ctx->input(3);
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitGruSequenceGrad", hs, h0, 1, 3, kernel, &s));
    const int64_t n = s.n;
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitGruSequenceGrad",
                                    {{"dhs", &ctx->input(0), hs.shape()},
                                     {"dh_last", &ctx->input(1), h0.shape()},
                                     {"acts", &ctx->input(5),
                                      TensorShape({s.time, s.rows, 4 * n})}}));
    const TensorShape wide({s.time, s.rows, 3 * n});
    Tensor *dxp, *dg, *dh0, *dkernel;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, wide, &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, wide, &dg));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, h0.shape(), &dh0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, kernel.shape(), &dkernel));
    Packed<T> wt;  // W_h^T
    OP_REQUIRES_OK(ctx, wt.PackTransposed(ctx, Data<T>(kernel), 3 * n, 3 * n, n));
    T* dh = Data<T>(dh0);
    std::copy_n(Data<T>(ctx->input(1)), s.step, dh);
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = s.time - 1; t >= 0; --t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      const T* a_t = Data<T>(ctx->input(5)) + t * 4 * s.step;
      const T* dh_t = Data<T>(ctx->input(0)) + t * s.step;
      T* dx_t = Data<T>(dxp) + t * 3 * s.step;
      T* dg_t = Data<T>(dg) + t * 3 * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        Eigen::Array<T, Eigen::Dynamic, 1> dh_r(n);
        for (int64_t r = begin; r < end; ++r) {
          const T* a = a_t + r * 4 * n;
          ConstVec<T> z(a, n), rg(a + n, n), cand(a + 2 * n, n), gh(a + 3 * n, n);
          T *dx = dx_t + r * 3 * n, *dgr = dg_t + r * 3 * n;
          Vec<T> carry(dh + r * n, n);
          dh_r = ConstVec<T>(dh_t + r * n, n) + carry;
          Vec<T> dzz(dx, n), dzr(dx + n, n), dzh(dx + 2 * n, n);
          dzz = dh_r * (ConstVec<T>(h_prev + r * n, n) - cand) * z * (T(1) - z);
          dzh = dh_r * (T(1) - z) * (T(1) - cand * cand);
          dzr = dzh * gh * rg * (T(1) - rg);
          Vec<T>(dgr, 2 * n) = ConstVec<T>(dx, 2 * n);
          Vec<T>(dgr + 2 * n, n) = dzh * rg;
          carry = dh_r * z;
        }
      });
      wt.MultiplyRows(b0, b1, dg_t, 3 * n, T(1), dh, n);
    }
    });
    GemmPrevT(ctx, s, Data<T>(h0), Data<T>(hs), Data<T>(dg), 3 * n, 3 * n, T(0),
              Data<T>(dkernel), 3 * n);
  }
};

// Cells whose candidate reads (r ⊙ h) W_hh, a second GEMM per step after the gates:
//   gru_cho: z, r = σ(xp + h W_h[z, r]);  h' = z h + (1 − z) h̃
//   mut1:    z = σ(xp_z), r = σ(xp_r + h W_hr);  h' = z h̃ + (1 − z) h   (kernel r, h)
//   mut2:    z, r = σ(xp + h W_h[z, r]);  h' = z h̃ + (1 − z) h
//   mut3:    z = σ(xp_z + tanh(h) W_hz), r = σ(xp_r + h W_hr);  h' = z h̃ + (1 − z) h
// with h̃ = tanh(xp_h + (r ⊙ h) W_hh) for all four.
struct ResetForm {
  std::string variant;
  int columns;     // kernel column blocks: 2 for mut1 (r, h), else 3 (z, r, h)
  int cz, cr, ch;  // kernel column block of z (-1: none), r and h
  bool tanh_z;     // z reads tanh(h) (mut3)
  bool z_keeps_h;  // h' = z h + (1 − z) h̃ (gru_cho) rather than z h̃ + (1 − z) h

  Status Read(OpKernelConstruction* ctx) {
    TF_RETURN_IF_ERROR(ctx->GetAttr("cell", &variant));
    const bool mut1 = variant == "mut1";
    columns = mut1 ? 2 : 3;
    cz = mut1 ? -1 : 0;
    cr = mut1 ? 0 : 1;
    ch = mut1 ? 1 : 2;
    tanh_z = variant == "mut3";
    z_keeps_h = variant == "gru_cho";
    return OkStatus();
  }
};

REGISTER_OP("SeqkitResetSequence")
    .Input("xp: T")      // (time, batch, 3 units): z, r, h
    .Input("h0: T")
    .Input("kernel: T")  // (units, 3 units), mut1 (units, 2 units)
    .Output("hs: T")
    .Output("acts: T")   // (time, batch, 3 units): z, r, h̃
    .Output("rhs: T")    // (time, batch, units): r ⊙ h_{t-1}
    .Attr("cell: {'gru_cho', 'mut1', 'mut2', 'mut3'}")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, StateSequence(c));
      c->set_output(1, c->input(0));
      c->set_output(2, c->output(0));
      return OkStatus();
    });

template <typename T>
class ResetSequenceOp : public FormKernel<ResetForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &h0 = ctx->input(1), &kernel = ctx->input(2);
    const ResetForm& F = form_;
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitResetSequence", xp, h0, 3, F.columns, kernel, &s));
    const int64_t n = s.n;
    const int ldw = F.columns * n;
    Tensor *hs, *acts, *rhs, g1, g2;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({s.time, s.rows, n}), &hs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, xp.shape(), &acts));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({s.time, s.rows, n}), &rhs));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({s.rows, 2 * n}), &g1));  // h W_hz, h W_hr
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({s.rows, n}), &g2));
    const T* w = Data<T>(kernel);
    T *g1_ = Data<T>(&g1), *g2_ = Data<T>(&g2);
    // The blocks of W_h the steps multiply by: [W_hz W_hr] together where z reads h, else
    // W_hz (on tanh h, mut3) and W_hr apart; W_hh.
    const bool together = F.cz == 0 && !F.tanh_z;
    Packed<T> w_zr, w_z, w_r, w_h;
    if (together) {
      OP_REQUIRES_OK(ctx, w_zr.Pack(ctx, w, ldw, n, 2 * n));
    } else {
      if (F.tanh_z) OP_REQUIRES_OK(ctx, w_z.Pack(ctx, w, ldw, n, n));
      OP_REQUIRES_OK(ctx, w_r.Pack(ctx, w + F.cr * n, ldw, n, n));
    }
    OP_REQUIRES_OK(ctx, w_h.Pack(ctx, w + F.ch * n, ldw, n, n));
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = 0; t < s.time; ++t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      if (together) {  // z and r from one product
        w_zr.MultiplyRows(b0, b1, h_prev, n, T(0), g1_, 2 * n);
      } else {
        if (F.tanh_z) {
          Rows(b0, b1, [&](int64_t begin, int64_t end) {
            const int64_t count = (end - begin) * n;
            Vec<T>(g2_ + begin * n, count) = ConstVec<T>(h_prev + begin * n, count).tanh();
          });
          w_z.MultiplyRows(b0, b1, g2_, n, T(0), g1_, 2 * n);
        }
        w_r.MultiplyRows(b0, b1, h_prev, n, T(0), g1_ + n, 2 * n);
      }
      const T* x_t = Data<T>(xp) + t * 3 * s.step;
      T* a_t = Data<T>(acts) + t * 3 * s.step;
      T* rh_t = Data<T>(rhs) + t * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T *x = x_t + r * 3 * n, *gr = g1_ + r * 2 * n;
          T* a = a_t + r * 3 * n;
          if (F.cz >= 0) Vec<T>(a, n) = (ConstVec<T>(x, n) + ConstVec<T>(gr, n)).logistic();
          else Vec<T>(a, n) = ConstVec<T>(x, n).logistic();
          Vec<T> rg(a + n, n);
          rg = (ConstVec<T>(x + n, n) + ConstVec<T>(gr + n, n)).logistic();
          Vec<T>(rh_t + r * n, n) = rg * ConstVec<T>(h_prev + r * n, n);
        }
      });
      w_h.MultiplyRows(b0, b1, rh_t, n, T(0), g2_, n);
      T* h_t = Data<T>(hs) + t * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          T* a = a_t + r * 3 * n;
          ConstVec<T> z(a, n), hp(h_prev + r * n, n);
          Vec<T> cand(a + 2 * n, n);
          cand = (ConstVec<T>(x_t + r * 3 * n + 2 * n, n) + ConstVec<T>(g2_ + r * n, n)).tanh();
          if (F.z_keeps_h) Vec<T>(h_t + r * n, n) = z * hp + (T(1) - z) * cand;
          else Vec<T>(h_t + r * n, n) = z * cand + (T(1) - z) * hp;
        }
      });
    }
    });
  }
};

REGISTER_OP("SeqkitResetSequenceGrad")
    .Input("dhs: T")
    .Input("dh_last: T")
    .Input("h0: T")
    .Input("kernel: T")
    .Input("hs: T")
    .Input("acts: T")
    .Input("rhs: T")
    .Output("dxp: T")  // (time, batch, 3 units)
    .Output("dh0: T")
    .Output("dkernel: T")
    .Attr("cell: {'gru_cho', 'mut1', 'mut2', 'mut3'}")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(5));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      return OkStatus();
    });

template <typename T>
class ResetSequenceGradOp : public FormKernel<ResetForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &hs = ctx->input(4), &h0 = ctx->input(2), &kernel = ctx->input(3),
                 &acts = ctx->input(5), &rhs = ctx->input(6);
    const ResetForm& F = form_;
    Sizes s;
    OP_REQUIRES_OK(ctx, ReadSizes("SeqkitResetSequenceGrad", acts, h0, 3, F.columns, kernel, &s));
    const int64_t n = s.n;
    const int ldw = F.columns * n;
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitResetSequenceGrad",
                                    {{"dhs", &ctx->input(0), TensorShape({s.time, s.rows, n})},
                                     {"dh_last", &ctx->input(1), h0.shape()},
                                     {"hs", &hs, TensorShape({s.time, s.rows, n})},
                                     {"rhs", &rhs, TensorShape({s.time, s.rows, n})}}));
    Tensor *dxp, *dh0, *dkernel, drh;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, acts.shape(), &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, h0.shape(), &dh0));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, kernel.shape(), &dkernel));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({s.rows, n}), &drh));
    // Transposed blocks of W_h, as in the forward op.
    const T* w = Data<T>(kernel);
    const bool together = F.cz == 0 && !F.tanh_z;
    Packed<T> wt_zr, wt_z, wt_r, wt_h;
    if (together) {
      OP_REQUIRES_OK(ctx, wt_zr.PackTransposed(ctx, w, ldw, 2 * n, n));
    } else {
      if (F.tanh_z) OP_REQUIRES_OK(ctx, wt_z.PackTransposed(ctx, w, ldw, n, n));
      OP_REQUIRES_OK(ctx, wt_r.PackTransposed(ctx, w + F.cr * n, ldw, n, n));
    }
    OP_REQUIRES_OK(ctx, wt_h.PackTransposed(ctx, w + F.ch * n, ldw, n, n));
    T *dh = Data<T>(dh0), *drh_ = Data<T>(&drh);
    std::copy_n(Data<T>(ctx->input(1)), s.step, dh);
    ForBatchRows(ctx, s.rows, [&](int64_t b0, int64_t b1) {
    for (int64_t t = s.time - 1; t >= 0; --t) {
      const T* h_prev = t ? Data<T>(hs) + (t - 1) * s.step : Data<T>(h0);
      const T* a_t = Data<T>(acts) + t * 3 * s.step;
      const T* dh_t = Data<T>(ctx->input(0)) + t * s.step;
      T* dx_t = Data<T>(dxp) + t * 3 * s.step;
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        Eigen::Array<T, Eigen::Dynamic, 1> dh_r(n);
        for (int64_t r = begin; r < end; ++r) {
          const T* a = a_t + r * 3 * n;
          ConstVec<T> z(a, n), cand(a + 2 * n, n), hp(h_prev + r * n, n);
          T* dx = dx_t + r * 3 * n;
          Vec<T> carry(dh + r * n, n), dzz(dx, n), dzh(dx + 2 * n, n);
          dh_r = ConstVec<T>(dh_t + r * n, n) + carry;
          if (F.z_keeps_h) {
            dzh = dh_r * (T(1) - z);
            dzz = dh_r * (hp - cand) * z * (T(1) - z);
            carry = dh_r * z;
          } else {
            dzh = dh_r * z;
            dzz = dh_r * (cand - hp) * z * (T(1) - z);
            carry = dh_r * (T(1) - z);
          }
          dzh *= T(1) - cand * cand;
        }
      });
      // d(r ⊙ h) = dz_h W_hh^T
      wt_h.MultiplyRows(b0, b1, dx_t + 2 * n, 3 * n, T(0), drh_, n);
      Rows(b0, b1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          ConstVec<T> rg(a_t + r * 3 * n + n, n), d(drh_ + r * n, n);
          Vec<T>(dx_t + r * 3 * n + n, n) = d * ConstVec<T>(h_prev + r * n, n) * rg * (T(1) - rg);
          Vec<T>(dh + r * n, n) += d * rg;
        }
      });
      // dh_{t-1} += [dz_z, dz_r] W_h[z, r]^T (dz_z through tanh(h) for mut3; none for mut1)
      if (together) {
        wt_zr.MultiplyRows(b0, b1, dx_t, 3 * n, T(1), dh, n);
      } else {
        wt_r.MultiplyRows(b0, b1, dx_t + n, 3 * n, T(1), dh, n);
        if (F.tanh_z) {
          wt_z.MultiplyRows(b0, b1, dx_t, 3 * n, T(0), drh_, n);
          Rows(b0, b1, [&](int64_t begin, int64_t end) {
            const int64_t at = begin * n, count = (end - begin) * n;
            Vec<T>(dh + at, count) +=
                ConstVec<T>(drh_ + at, count) * (T(1) - ConstVec<T>(h_prev + at, count).tanh().square());
          });
        }
      }
    }
    });
    T* dw = Data<T>(dkernel);
    const T* dx = Data<T>(dxp);
    if (together) {
      GemmPrevT(ctx, s, Data<T>(h0), Data<T>(hs), dx, 3 * n, 2 * n, T(0), dw, ldw);
    } else {
      GemmPrevT(ctx, s, Data<T>(h0), Data<T>(hs), dx + n, 3 * n, n, T(0), dw + F.cr * n, ldw);
      if (F.tanh_z) {  // dW_hz = tanh([h_{-1} .. h_{T-2}])^T dz_z
        Tensor tanh_prev;
        OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                               TensorShape({s.time, s.rows, n}), &tanh_prev));
        T* th = Data<T>(&tanh_prev);
        Vec<T>(th, s.step) = ConstVec<T>(Data<T>(h0), s.step).tanh();
        if (s.time > 1) {
          Vec<T>(th + s.step, (s.time - 1) * s.step) =
              ConstVec<T>(Data<T>(hs), (s.time - 1) * s.step).tanh();
        }
        Gemm(ctx, true, false, n, n, s.time * s.rows, th, n, dx, 3 * n, T(0), dw, ldw);
      }
    }
    // dW_hh = [r ⊙ h]^T dz_h
    Gemm(ctx, true, false, n, n, s.time * s.rows, Data<T>(rhs), n, dx + 2 * n, 3 * n, T(0),
         dw + F.ch * n, ldw);
  }
};

REGISTER_OP("SeqkitLinearScan")
    .Input("a: T")  // (batch, time, units)
    .Input("b: T")
    .Output("h: T")  // h_t = a_t h_{t-1} + b_t, h_{-1} = 0
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) { return ShapesOfInputs(c, 0, 1); });

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

// ---------------------------------------------------------------------------------------
// mingru and minlstm (Feng et al. 2024) over whole sequences, batch-major: their gates
// read x only, so each step is h_t = a_t h_{t-1} + b_t with a, b from xp_t alone.
//   mingru:  xp = [k_z, k_h];       a = σ(-k_z), b = σ(k_z) g(k_h)
//   minlstm: xp = [k_f, k_i, k_h];  d = softplus(-k_i) - softplus(-k_f),
//                                   a = σ(d), b = σ(-d) g(k_h)
// with g(k) = k + 0.5 for k ≥ 0, else σ(k). The coefficients are formed in registers
// and never stored: the forward op writes h only, the backward op forms them again.

// Units per row of work: wide enough that each step reads long runs of memory.
constexpr int64_t kMinimalBlock = 256;

struct MinimalForm {
  bool lstm;  // else mingru
  int gates;

  Status Read(OpKernelConstruction* ctx) {
    std::string cell;
    TF_RETURN_IF_ERROR(ctx->GetAttr("cell", &cell));
    lstm = cell == "minlstm";
    gates = lstm ? 3 : 2;
    return OkStatus();
  }
};

#define SEQKIT_MINIMAL_ATTRS                      \
  Attr("cell: {'mingru', 'minlstm'} = 'mingru'")  \
      .Attr("T: {float, double}")

REGISTER_OP("SeqkitMinimalScan")
    .Input("xp: T")    // (batch, time, gates units): x W_x
    .Input("bias: T")  // (gates units,): b, added as the op forms the gates
    .Input("h0: T")    // (batch, units)
    .Output("h: T")  // (batch, time, units)
    .SEQKIT_MINIMAL_ATTRS
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->MakeShape({c->Dim(c->input(0), 0), c->Dim(c->input(0), 1),
                                     c->Dim(c->input(2), 1)}));
      return OkStatus();
    });

REGISTER_OP("SeqkitMinimalScanGrad")
    .Input("dh: T")  // (batch, time, units): gradient of every h_t
    .Input("xp: T")
    .Input("bias: T")
    .Input("h0: T")
    .Input("h: T")   // the forward output
    .Output("dxp: T")
    .Output("dbias: T")
    .Output("dh0: T")
    .SEQKIT_MINIMAL_ATTRS
    .SetShapeFn([](InferenceContext* c) { return ShapesOfInputs(c, 1, 3); });  // xp, bias, h0

// One block of units at one step: the coefficient a, s = 1 - a (σ(k_z) or σ(-d)),
// g(k_h) and, for the gradient, g'(k_h) and (minlstm) σ(-k_f), σ(-k_i). Each σ pair
// comes from one exp(-|k|), so that both are exact to rounding however far k saturates.
template <typename T>
struct MinimalStep {
  using Block = Eigen::Array<T, Eigen::Dynamic, 1, 0, kMinimalBlock, 1>;
  Block a, s, g, dg, sf, si;

  // σ(k) and σ(-k).
  template <typename K>
  static void Sigmoids(const K& k, Block* up, Block* down) {
    const Block e = (-k.abs()).exp(), big = (T(1) + e).inverse(), small = e * big;
    *up = (k >= T(0)).select(big, small);
    *down = (k >= T(0)).select(small, big);
  }

  // x, bias: the step's x W_x row and the bias at the block's first unit (gate blocks
  // n apart); w: the block's width.
  void Form(const MinimalForm& F, const T* x, const T* bias, int64_t n, int64_t w,
            bool slope) {
    auto k = [&](int gate) { return ConstVec<T>(x + gate * n, w) + ConstVec<T>(bias + gate * n, w); };
    if (F.lstm) {  // d = log σ(k_f) - log σ(k_i), log σ(k) = min(k, 0) - log1p(exp(-|k|))
      const Block kf = k(0), ki = k(1);
      const Block ef = (-kf.abs()).exp(), ei = (-ki.abs()).exp();
      const Block d = (kf.min(T(0)) - ef.log1p()) - (ki.min(T(0)) - ei.log1p());
      Sigmoids(d, &a, &s);
      if (slope) {
        sf = (kf >= T(0)).select(ef, T(1)) / (T(1) + ef);
        si = (ki >= T(0)).select(ei, T(1)) / (T(1) + ei);
      }
    } else {
      Sigmoids(k(0), &s, &a);
    }
    const Block kh = k(F.gates - 1);
    const Block eh = kh.min(T(0)).exp(), sig = eh / (T(1) + eh);  // σ(k_h) where k_h < 0
    g = (kh >= T(0)).select(kh + T(0.5), sig);
    if (slope) dg = (kh >= T(0)).select(Block::Ones(w), sig * (T(1) - sig));
  }
};

// Checks xp (batch, time, gates units) and bias against h0 (batch, units); reads the sizes.
Status MinimalSizes(const char* op, const MinimalForm& F, const Tensor& xp, const Tensor& bias,
                    const Tensor& h0, int64_t* batch, int64_t* time, int64_t* n) {
  if (h0.dims() != 2) {
    return errors::InvalidArgument(op, ": h0 must be (batch, units), received ",
                                   h0.shape().DebugString());
  }
  *batch = h0.dim_size(0);
  *n = h0.dim_size(1);
  if (xp.dims() != 3 || xp.dim_size(0) != *batch || xp.dim_size(2) != F.gates * *n ||
      xp.dim_size(1) < 1) {
    return errors::InvalidArgument(op, ": xp must be (batch, time >= 1, ", F.gates,
                                   " units) = (", *batch, ", time, ", F.gates * *n,
                                   "), received ", xp.shape().DebugString());
  }
  *time = xp.dim_size(1);
  return CheckShapes(op, {{"bias", &bias, TensorShape({F.gates * *n})}});
}

template <typename T>
class MinimalScanOp : public FormKernel<MinimalForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &xp = ctx->input(0), &bias = ctx->input(1), &h0 = ctx->input(2);
    int64_t batch, time, n;
    OP_REQUIRES_OK(ctx,
                   MinimalSizes("SeqkitMinimalScan", form_, xp, bias, h0, &batch, &time, &n));
    Tensor* h;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, time, n}), &h));
    const int64_t blocks = (n + kMinimalBlock - 1) / kMinimalBlock, G = form_.gates;
    const T *x_ = Data<T>(xp), *bias_ = Data<T>(bias), *h0_ = Data<T>(h0);
    T* h_ = Data<T>(h);
    ForRows(ctx, batch * blocks, 40 * time * kMinimalBlock, [&](int64_t begin, int64_t end) {
      MinimalStep<T> step;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / blocks, j0 = (r % blocks) * kMinimalBlock;
        const int64_t w = std::min(kMinimalBlock, n - j0);
        const T* prev = h0_ + b * n + j0;
        for (int64_t t = 0; t < time; ++t) {
          step.Form(form_, x_ + (b * time + t) * G * n + j0, bias_ + j0, n, w, false);
          T* out = h_ + (b * time + t) * n + j0;
          Vec<T>(out, w) = step.a * ConstVec<T>(prev, w) + step.s * step.g;
          prev = out;
        }
      }
    });
  }
};

template <typename T>
class MinimalScanGradOp : public FormKernel<MinimalForm> {
 public:
  using FormKernel::FormKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor &dh = ctx->input(0), &xp = ctx->input(1), &bias = ctx->input(2),
                 &h0 = ctx->input(3), &h = ctx->input(4);
    int64_t batch, time, n;
    OP_REQUIRES_OK(ctx, MinimalSizes("SeqkitMinimalScanGrad", form_, xp, bias, h0, &batch,
                                     &time, &n));
    const TensorShape seq({batch, time, n});
    OP_REQUIRES_OK(ctx, CheckShapes("SeqkitMinimalScanGrad", {{"dh", &dh, seq}, {"h", &h, seq}}));
    Tensor *dxp, *dbias, *dh0, by_batch;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xp.shape(), &dxp));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, bias.shape(), &dbias));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, h0.shape(), &dh0));
    const int64_t blocks = (n + kMinimalBlock - 1) / kMinimalBlock, G = form_.gates;
    // ∂L/∂b summed over time per sequence (rows of one sequence own disjoint columns)
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<T>::value,
                                           TensorShape({batch, G * n}), &by_batch));
    const T *x_ = Data<T>(xp), *bias_ = Data<T>(bias), *h0_ = Data<T>(h0), *h_ = Data<T>(h),
            *dh_ = Data<T>(dh);
    T *dx_ = Data<T>(dxp), *dh0_ = Data<T>(dh0), *db_ = Data<T>(&by_batch);
    Vec<T>(db_, batch * G * n).setZero();
    ForRows(ctx, batch * blocks, 80 * time * kMinimalBlock, [&](int64_t begin, int64_t end) {
      using Block = typename MinimalStep<T>::Block;
      MinimalStep<T> step;
      Block delta, carry;  // carry = a_{t+1} δ_{t+1}
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / blocks, j0 = (r % blocks) * kMinimalBlock;
        const int64_t w = std::min(kMinimalBlock, n - j0);
        carry.setZero(w);
        for (int64_t t = time - 1; t >= 0; --t) {
          const int64_t row = b * time + t;
          const T* x = x_ + row * G * n + j0;
          step.Form(form_, x, bias_ + j0, n, w, true);
          delta = ConstVec<T>(dh_ + row * n + j0, w) + carry;
          ConstVec<T> prev(t ? h_ + (row - 1) * n + j0 : h0_ + b * n + j0, w);
          T* d = dx_ + row * G * n + j0;
          // ∂L/∂a = δ h_{t-1}, ∂L/∂b = δ; through a = σ(∓k), b = s g:
          const Block da_minus_dbg = delta * (prev - step.g);
          if (form_.lstm) {  // dd = a s (∂L/∂a - g ∂L/∂b); ∂d/∂k_f = σ(-k_f), ∂d/∂k_i = -σ(-k_i)
            const Block dd = step.a * step.s * da_minus_dbg;
            Vec<T>(d, w) = dd * step.sf;
            Vec<T>(d + n, w) = -dd * step.si;
          } else {  // ∂a/∂k_z = -a s, ∂b/∂k_z = a s g
            Vec<T>(d, w) = -step.a * step.s * da_minus_dbg;
          }
          Vec<T>(d + (G - 1) * n, w) = delta * step.s * step.dg;
          for (int k = 0; k < G; ++k) {
            Vec<T>(db_ + b * G * n + k * n + j0, w) += ConstVec<T>(d + k * n, w);
          }
          carry = step.a * delta;
        }
        Vec<T>(dh0_ + b * n + j0, w) = carry;
      }
    });
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>> sums(db_, G * n, batch);
    Vec<T>(Data<T>(dbias), G * n) = sums.rowwise().sum();
  }
};

#define REGISTER_ONE(NAME, KERNEL, T) \
  REGISTER_KERNEL_BUILDER(Name(NAME).Device(DEVICE_CPU).TypeConstraint<T>("T"), KERNEL<T>);
#define REGISTER(T)                                                      \
  REGISTER_ONE("SeqkitMatMul", MatMulOp, T)                              \
  REGISTER_ONE("SeqkitLstmSequence", LstmSequenceOp, T)                  \
  REGISTER_ONE("SeqkitLstmSequenceGrad", LstmSequenceGradOp, T)          \
  REGISTER_ONE("SeqkitFgrSequence", FgrSequenceOp, T)                    \
  REGISTER_ONE("SeqkitFgrSequenceGrad", FgrSequenceGradOp, T)            \
  REGISTER_ONE("SeqkitRnnSequence", RnnSequenceOp, T)                    \
  REGISTER_ONE("SeqkitRnnSequenceGrad", RnnSequenceGradOp, T)            \
  REGISTER_ONE("SeqkitGruSequence", GruSequenceOp, T)                    \
  REGISTER_ONE("SeqkitGruSequenceGrad", GruSequenceGradOp, T)            \
  REGISTER_ONE("SeqkitResetSequence", ResetSequenceOp, T)                \
  REGISTER_ONE("SeqkitResetSequenceGrad", ResetSequenceGradOp, T)        \
  REGISTER_ONE("SeqkitLinearScan", LinearScanOp, T)                      \
  REGISTER_ONE("SeqkitLinearScanGrad", LinearScanGradOp, T)            \
  REGISTER_ONE("SeqkitMinimalScan", MinimalScanOp, T)                    \
  REGISTER_ONE("SeqkitMinimalScanGrad", MinimalScanGradOp, T)
REGISTER(float)
REGISTER(double)
#undef REGISTER
#undef REGISTER_ONE

}  // namespace seqkit
