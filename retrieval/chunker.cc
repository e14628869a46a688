// Placeholder while the retrieval issue is built; see retrieval/chunker.h once it lands.
namespace engram::retrieval {}
