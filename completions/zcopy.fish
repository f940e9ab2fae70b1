complete -c zcopy -l files-from -d 'Read source paths from FILE (\'-\' for stdin), one per line; the last PATH is the destination directory. Relative paths keep their place under it' -r -F
complete -c zcopy -l min-size-mb -d 'Smallest file (in MB of 1,048,576 bytes, 1-1000) for the kernel paths [env: ZERO_COPY_MIN_SIZE_MB] [default: 10]' -r
complete -c zcopy -l chunk-size-mb -d 'Buffer of the chunk copy, in MB (1-512) [env: ZERO_COPY_CHUNK_SIZE_MB] [default: 64]' -r
complete -c zcopy -l reflink -d 'Clone blocks: auto (when possible), always (or fail), never (independent copies) [env: ZERO_COPY_REFLINK] [default: auto]' -r -f -a "auto\t'Clone where the filesystem can, copy otherwise'
always\t'Clone or fail: never spend the time and space of a block copy'
never\t'Never share blocks: skip FICLONE and copy_file_range (which clones on CoW filesystems)'"
complete -c zcopy -l method -d 'Use only this mechanism, whatever the file\'s size and the settings; a file it cannot copy fails. For benchmarks and diagnosis' -r -f -a "clone\t'ioctl(FICLONE) on Linux, fclonefileat on macOS'
copy-file-range\t'copy_file_range(2)'
sendfile\t'sendfile(2)'
chunked\t'Buffered reads and writes'"
complete -c zcopy -l verify -d 'Check each copy before it replaces the destination: MODE size (the default) or checksum (BLAKE3 of both files) [env: ZERO_COPY_VERIFY_COPY, ZERO_COPY_VERIFY_MODE]' -r -f -a "size\t'The copy has the source\'s size (the spec\'s check; costs one fstat)'
checksum\t'The copy\'s BLAKE3 hash equals the source\'s (reads both files once more)'"
complete -c zcopy -l env-file -d 'Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once to layer files (a later file wins)' -r -F
complete -c zcopy -l color -d 'Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR is not set), always or never' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c zcopy -s r -l recursive -d 'Copy directories and everything in them'
complete -c zcopy -s 0 -l null -d 'Entries in --files-from are separated by NUL bytes, not newlines'
complete -c zcopy -s n -l no-clobber -d 'Do not replace existing destinations (they are reported as skipped)'
complete -c zcopy -l zero-copy -d 'Use clone, copy_file_range and sendfile [env: ZERO_COPY_ENABLED]'
complete -c zcopy -l no-zero-copy -d 'Copy every file with the buffered chunk copy'
complete -c zcopy -l no-verify -d 'Skip the size check after each copy'
complete -c zcopy -l fsync -d 'fsync each file and its directory before reporting it copied [env: ZERO_COPY_FSYNC]'
complete -c zcopy -l no-fsync -d 'Do not fsync (the default)'
complete -c zcopy -l clean -d 'Remove the temporary files (.NAME.XXXXXX.zcopy-tmp) that a killed zcopy left in the PATH directories (with -r, also below them), print them, and exit. Not while a zcopy is copying into those directories'
complete -c zcopy -l no-env-file -d 'Do not read any .env file'
complete -c zcopy -l json -d 'Print one JSON document on stdout instead of the summary'
complete -c zcopy -l json-lines -d 'Print one JSON object per line on stdout: one per file as it completes ("type": "file", "error" or "skipped"), then one with the totals ("summary")'
complete -c zcopy -s q -l quiet -d 'Print no summary and no warnings (errors are still printed)'
complete -c zcopy -l print-config -d 'Print the effective configuration, with where each value came from, and exit (as JSON with --json)'
complete -c zcopy -l progress -d 'Draw progress bars on stderr even when it is not a terminal'
complete -c zcopy -l no-progress -d 'Never draw progress bars'
complete -c zcopy -s v -l verbose -d 'Log which mechanisms are available and which one each file used, and why'
complete -c zcopy -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zcopy -s V -l version -d 'Print version'
