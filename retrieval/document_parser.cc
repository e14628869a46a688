// Placeholder while the retrieval issue is built; see retrieval/document_parser.h once it lands.
namespace engram::retrieval {}
