// Placeholder while the retrieval issue is built; see retrieval/collection.h once it lands.
namespace engram::retrieval {}
