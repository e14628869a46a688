// Placeholder while the retrieval issue is built; see retrieval/vector_index.h once it lands.
namespace engram::retrieval {}
