// A small, consistent XIR graph of the shape vai_c_xir produces for a one-conv
// classifier, built with the project's XIR schema subset, for xmodel tests.
#ifndef PRUNESERVE_TESTS_CORE_XMODEL_SAMPLE_XMODEL_H_
#define PRUNESERVE_TESTS_CORE_XMODEL_SAMPLE_XMODEL_H_

#include "xir/xmodel_graph.pb.h"

namespace pruneserve::xmodel::testing {

// Ops: input (data-fix [1,28,28,1]), conv_w (const-fix [8,3,3,1], 8 bit),
// conv (conv2d-fix [1,28,28,8]), pool (global avgpool [1,1,1,8]),
// fc_w (const-fix [10,8], 8 bit), fc (matmul → [1,10]).
// Root subgraph "root" has children subgraph_input (USER),
// subgraph_conv (DPU: conv_w, conv, pool, fc_w, fc).
// With `dpu` false the children are left out (quantizer output).
xir::Graph SampleGraph(bool dpu = true);

}  // namespace pruneserve::xmodel::testing

#endif  // PRUNESERVE_TESTS_CORE_XMODEL_SAMPLE_XMODEL_H_
