#include "errors.h"

#include <Python.h>

#include <string>

namespace nb = nanobind;

namespace engram::python {
namespace {

// code (int) -> exception class, set once by engram/errors.py at import. A strong reference
// that is never released: the classes live as long as the interpreter.
PyObject* g_classes = nullptr;

PyObject* ClassFor(StatusCode code) {
  if (g_classes != nullptr) {
    nb::object key = nb::int_(static_cast<int>(code));
    PyObject* cls = PyDict_GetItemWithError(g_classes, key.ptr());  // borrowed
    if (cls != nullptr) return cls;
    PyErr_Clear();
  }
  return PyExc_RuntimeError;  // only before engram/errors.py registered its classes
}

void SetErrorClasses(nb::typed<nb::dict, int, nb::type_object> classes) {
  for (auto [code, cls] : classes) {
    if (!PyLong_Check(code.ptr()) || !PyType_Check(cls.ptr()) ||
        !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(cls.ptr()),
                          reinterpret_cast<PyTypeObject*>(PyExc_Exception))) {
      throw nb::type_error("_set_error_classes: expects {int: exception class}");
    }
  }
  PyObject* old = g_classes;
  g_classes = classes.inc_ref().ptr();
  Py_XDECREF(old);
}

}  // namespace

void RegisterErrors(nb::module_& m) {
  m.def("_set_error_classes", &SetErrorClasses, nb::arg("classes"),
        "Internal: the exception class to raise for each engram StatusCode (int).");
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const StatusError& e) {
      const std::string message(e.status().message());
      PyErr_SetString(ClassFor(e.status().code()), message.c_str());
    }
  });
}

}  // namespace engram::python
