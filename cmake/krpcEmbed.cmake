# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P krpcEmbed.cmake
# Writes a C++ source defining `extern const std::string_view <SYMBOL>` holding INPUT's bytes,
# so static assets (the web console) ship inside the binary: nothing to fetch or install.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" n)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
math(EXPR size "${n} / 2")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/krpcEmbed.cmake; do not edit.\n"
  "#include <string_view>\n"
  "namespace krpc::embedded {\n"
  "static const char k${SYMBOL}Bytes[] = {${bytes} 0};\n"
  "extern const std::string_view ${SYMBOL}(k${SYMBOL}Bytes, ${size});\n"
  "}  // namespace krpc::embedded\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
