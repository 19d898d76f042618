// The Python module `jaxcourse.kernels._onednn`: hands the oneDNN kernels' XLA FFI handlers
// to Python as PyCapsules (`targets()`), and answers what Python must know at trace time.

#include <Python.h>

#include <utility>

#include "onednn_common.h"

namespace {

PyObject* targets(PyObject*, PyObject*) {
  const std::pair<const char*, void*> handlers[] = {
      {"jaxcourse_onednn_conv_forward", reinterpret_cast<void*>(JaxcourseConvForward)},
      {"jaxcourse_onednn_conv_forward_bias", reinterpret_cast<void*>(JaxcourseConvForwardBias)},
      {"jaxcourse_onednn_conv_input_grad", reinterpret_cast<void*>(JaxcourseConvInputGrad)},
      {"jaxcourse_onednn_conv_weight_grad", reinterpret_cast<void*>(JaxcourseConvWeightGrad)},
      {"jaxcourse_onednn_conv_weight_bias_grad",
       reinterpret_cast<void*>(JaxcourseConvWeightBiasGrad)},
      {"jaxcourse_onednn_lstm_forward", reinterpret_cast<void*>(JaxcourseLstmForward)},
      {"jaxcourse_onednn_lstm_backward", reinterpret_cast<void*>(JaxcourseLstmBackward)},
      {"jaxcourse_onednn_max_pool_forward", reinterpret_cast<void*>(JaxcourseMaxPoolForward)},
      {"jaxcourse_onednn_max_pool_backward", reinterpret_cast<void*>(JaxcourseMaxPoolBackward)},
  };
  PyObject* dict = PyDict_New();
  if (!dict) return nullptr;
  for (const auto& [name, fn] : handlers) {
    PyObject* capsule = PyCapsule_New(fn, nullptr, nullptr);
    if (!capsule || PyDict_SetItemString(dict, name, capsule) < 0) {
      Py_XDECREF(capsule);
      Py_DECREF(dict);
      return nullptr;
    }
    Py_DECREF(capsule);
  }
  return dict;
}

PyObject* version(PyObject*, PyObject*) {
  const dnnl_version_t* v = dnnl_version();
  return PyUnicode_FromFormat("%d.%d.%d", v->major, v->minor, v->patch);
}

PyObject* lstm_workspace_bytes(PyObject*, PyObject* args) {
  long long t, n, c, u;
  if (!PyArg_ParseTuple(args, "LLLL", &t, &n, &c, &u)) return nullptr;
  try {
    return PyLong_FromSize_t(jaxcourse_onednn::lstm_workspace_bytes(t, n, c, u));
  } catch (const dnnl::error& e) {
    PyErr_Format(PyExc_RuntimeError, "oneDNN LSTM: %s", e.what());
    return nullptr;
  }
}

PyObject* pool_workspace_bytes(PyObject*, PyObject* args) {
  long long n, h, w, c, kh, kw, sh, sw, pt, pb, pl, pr;
  if (!PyArg_ParseTuple(args, "(LLLL)(LL)(LL)((LL)(LL))", &n, &h, &w, &c, &kh, &kw, &sh, &sw,
                        &pt, &pb, &pl, &pr))
    return nullptr;
  try {
    return PyLong_FromSize_t(
        jaxcourse_onednn::pool_workspace_bytes(n, h, w, c, kh, kw, sh, sw, pt, pb, pl, pr));
  } catch (const dnnl::error& e) {
    PyErr_Format(PyExc_RuntimeError, "oneDNN max pooling: %s", e.what());
    return nullptr;
  }
}

PyMethodDef methods[] = {
    {"targets", targets, METH_NOARGS, "XLA FFI handlers of the oneDNN kernels, by name."},
    {"version", version, METH_NOARGS, "The oneDNN version the extension runs with."},
    {"lstm_workspace_bytes", lstm_workspace_bytes, METH_VARARGS,
     "(steps, batch, inputs, units) -> bytes of the LSTM forward pass's workspace."},
    {"pool_workspace_bytes", pool_workspace_bytes, METH_VARARGS,
     "(NHWC shape, window, strides, ((top, bottom), (left, right))) -> bytes of the max "
     "pooling forward pass's workspace."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_onednn",
                          "oneDNN kernels for XLA (see jaxcourse/kernels)", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__onednn() { return PyModule_Create(&module_def); }
