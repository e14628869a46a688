// Placeholder while the retrieval issue is built; see retrieval/bm25.h once it lands.
namespace engram::retrieval {}
