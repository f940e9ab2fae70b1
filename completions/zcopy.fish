# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_zcopy_global_optspecs
    string join \n r/recursive files-from= 0/null n/no-clobber i/interactive u/update resume t/target-directory= T/no-target-directory L/dereference P/no-dereference H d f/force remove-destination b/backup= S/suffix= l/link s/symbolic-link parents copy-contents sparse= attributes-only p preserve= no-preserve= a/archive zero-copy no-zero-copy min-size-mb= chunk-size-mb= reflink= j/jobs= method= verify= hash= mhl no-verify fsync no-fsync whole-tree-mb= clean env-file= no-env-file json json-lines q/quiet color= print-config progress no-progress v/verbose h/help V/version
end

function __fish_zcopy_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_zcopy_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_zcopy_using_subcommand
    set -l cmd (__fish_zcopy_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c zcopy -n "__fish_zcopy_needs_command" -l files-from -d 'Read source paths from FILE (\'-\' for stdin), one per line; the destination directory is the one PATH, or -t DIR. Relative paths keep their place under it' -r -F
complete -c zcopy -n "__fish_zcopy_needs_command" -s t -l target-directory -d 'Copy every source into DIR (all PATHs are sources). May be repeated: every file then goes to every DIR, the copies written side by side, each verified on its own, the source read once' -r -f -a "(__fish_complete_directories)"
complete -c zcopy -n "__fish_zcopy_needs_command" -s b -l backup -d 'Keep each replaced destination under a backup name: CONTROL none/off (no backups), numbered/t (NAME.~N~), existing/nil (numbered if such backups exist, else simple; the default), simple/never (NAME~) [env: VERSION_CONTROL]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -s S -l suffix -d 'The suffix of simple backups (default ~; implies -b) [env: SIMPLE_BACKUP_SUFFIX]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l sparse -d 'Holes in copies: auto (keep the source\'s), always (also make holes of zero blocks; uses the chunk copy), never (write every byte; no clone)' -r -f -a "auto\t'Keep the source\'s holes (found with SEEK_DATA), and clones share them'
always\t'Also make a hole of every all-zero block of data (read through the chunk copy)'
never\t'Make no holes: every byte of the copy is written (no clone or copy_file_range, which would share or keep holes)'"
complete -c zcopy -n "__fish_zcopy_needs_command" -l preserve -d 'Keep these attributes: mode, ownership, timestamps, xattr, all (comma-separated)' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-preserve -d 'Do not keep these attributes (as in --preserve); in order with -a, -p, -d and --preserve, as cp (a later one adds them back)' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l min-size-mb -d 'Smallest file (in MB of 1,048,576 bytes, 1-1000) for copy_file_range and sendfile; smaller files are cloned where the filesystem can, else copied in chunks [env: ZERO_COPY_MIN_SIZE_MB] [default: 10]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l chunk-size-mb -d 'Buffer of the chunk copy, in MB (1-512) [env: ZERO_COPY_CHUNK_SIZE_MB] [default: 64]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l reflink -d 'Clone blocks: auto (when possible), always (or fail; also --reflink alone), never (independent copies) [env: ZERO_COPY_REFLINK] [default: auto]' -r -f -a "auto\t'Clone where the filesystem can, copy otherwise'
always\t'Clone or fail: never spend the time and space of a block copy'
never\t'Never share blocks: skip FICLONE and copy_file_range (which clones on CoW filesystems)'"
complete -c zcopy -n "__fish_zcopy_needs_command" -s j -l jobs -d 'Copy up to N files at once (1-256) [env: ZERO_COPY_JOBS] [default: one per CPU, 2-16]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l method -d 'Use only this mechanism, whatever the file\'s size and the zero-copy settings; a file it cannot copy fails, and one that --reflink rules out is refused. For benchmarks and diagnosis' -r -f -a "clone\t'ioctl(FICLONE) on Linux, fclonefileat on macOS'
copy-file-range\t'copy_file_range(2)'
sendfile\t'sendfile(2)'
chunked\t'Buffered reads and writes'"
complete -c zcopy -n "__fish_zcopy_needs_command" -l verify -d 'Check each copy before it replaces the destination: MODE size (the default) or checksum (BLAKE3 of both files) [env: ZERO_COPY_VERIFY_COPY, ZERO_COPY_VERIFY_MODE]' -r -f -a "size\t'The copy has the source\'s size: catches a short copy (a full disk, a source that shrank) for the cost of one fstat'
checksum\t'The copy\'s BLAKE3 hash equals the source\'s (reads both files once more)'"
complete -c zcopy -n "__fish_zcopy_needs_command" -l hash -d 'Hash each source and its copy read back from the device (not the page cache), and install the copy only when the two match: ALG is xxh64, xxh3, xxh128, md5, sha1, c4 or none [env: ZERO_COPY_HASH] [default: none]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l whole-tree-mb -d 'A run copying at most this many MB builds each directory it creates under a hidden name (.NAME.XXXXXX.zcopy-tmp) and renames it into place at the end, so the tree appears whole (after Ctrl-C, with the files finished by then), and its files need no install each (much faster for small files); 0: each file appears as it is done. Not with --mhl or --resume, whose clips go in place one by one (0-1048576) [env: ZERO_COPY_WHOLE_TREE_MB] [default: 1024]' -r
complete -c zcopy -n "__fish_zcopy_needs_command" -l env-file -d 'Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once to layer files (a later file wins)' -r -F
complete -c zcopy -n "__fish_zcopy_needs_command" -l color -d 'Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR is not set), always or never' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c zcopy -n "__fish_zcopy_needs_command" -s r -s R -l recursive -d 'Copy directories and everything in them; symbolic links are copied as links, also those named on the command line (unless -H or -L)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s 0 -l null -d 'Entries in --files-from are separated by NUL bytes, not newlines'
complete -c zcopy -n "__fish_zcopy_needs_command" -s n -l no-clobber -d 'Do not replace existing destinations (they are reported as skipped)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s i -l interactive -d 'Ask before replacing an existing destination (refused when there is one to ask about and stdin is not a terminal)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s u -l update -d 'Copy only when the destination is missing or older than the source'
complete -c zcopy -n "__fish_zcopy_needs_command" -l resume -d 'Continue an interrupted copy: skip each file whose destination has the source\'s size and modification time (keep times with -p or -a) and, with --hash or --mhl, the source\'s hash (both are read)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s T -l no-target-directory -d 'Treat the destination as a plain name, never as a directory to copy into'
complete -c zcopy -n "__fish_zcopy_needs_command" -s L -l dereference -d 'Follow every symbolic link among the sources, also inside trees'
complete -c zcopy -n "__fish_zcopy_needs_command" -s P -l no-dereference -d 'Follow no symbolic link: copy links as links, also on the command line (the default with -r)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s H -d 'Follow symbolic links named on the command line; copy those inside trees as links'
complete -c zcopy -n "__fish_zcopy_needs_command" -s d -d 'Copy links as links and keep hard links (= --no-dereference --preserve=links)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s f -l force -d 'Replace an existing destination even when it may not be written, and let -l and -s replace existing files (cp\'s "remove it and try again")'
complete -c zcopy -n "__fish_zcopy_needs_command" -l remove-destination -d 'Replace an existing destination as a new file: a symlink is replaced rather than written through, and the copy gets the source\'s mode, not the old file\'s'
complete -c zcopy -n "__fish_zcopy_needs_command" -s l -l link -d 'Make hard links to the sources instead of copies'
complete -c zcopy -n "__fish_zcopy_needs_command" -s s -l symbolic-link -d 'Make symbolic links to the sources instead of copies (a relative source only into the current directory)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l parents -d 'Copy each source to its whole path, as given, under the destination directory (zcopy --parents a/b/c dir makes dir/a/b/c)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l copy-contents -d 'With -r, read FIFOs and devices like files instead of recreating them (a FIFO is waited on until its writer closes it, as with cp)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l attributes-only -d 'Copy no data: only the attributes kept by -p, --preserve or -a (a missing destination is created empty)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s p -d 'Keep mode, ownership and timestamps (= --preserve=mode,ownership,timestamps)'
complete -c zcopy -n "__fish_zcopy_needs_command" -s a -l archive -d 'Archive: -r -P --preserve=all (links included)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l zero-copy -d 'Use clone, copy_file_range and sendfile [env: ZERO_COPY_ENABLED]'
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-zero-copy -d 'Copy every file with the buffered chunk copy'
complete -c zcopy -n "__fish_zcopy_needs_command" -l mhl -d 'Record each copied folder in an ASC MHL history (its ascmhl/ folder: a new generation and the chain), after verifying a source\'s own history; implies --hash xxh64 unless --hash names another algorithm'
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-verify -d 'Install copies without checking them first'
complete -c zcopy -n "__fish_zcopy_needs_command" -l fsync -d 'fsync each file and its directory before reporting it copied [env: ZERO_COPY_FSYNC]'
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-fsync -d 'Do not fsync (the default)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l clean -d 'Remove the temporary files (.NAME.XXXXXX.zcopy-tmp) and hidden trees that a killed zcopy left in the PATH directories (with -r, also below them), print them, and exit. What a running zcopy holds (its hidden tree, the temporary file it writes) is left as it is, with a note on stderr'
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-env-file -d 'Do not read any .env file'
complete -c zcopy -n "__fish_zcopy_needs_command" -l json -d 'Print one JSON document on stdout instead of the summary'
complete -c zcopy -n "__fish_zcopy_needs_command" -l json-lines -d 'Print one JSON object per line on stdout: one per file as it completes ("type": "file", "error" or "skipped"), then one with the totals ("summary")'
complete -c zcopy -n "__fish_zcopy_needs_command" -s q -l quiet -d 'Print no summary and no warnings (errors are still printed)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l print-config -d 'Print the effective configuration, with where each value came from, and exit (as JSON with --json)'
complete -c zcopy -n "__fish_zcopy_needs_command" -l progress -d 'Draw progress bars on stderr even when it is not a terminal'
complete -c zcopy -n "__fish_zcopy_needs_command" -l no-progress -d 'Never draw progress bars'
complete -c zcopy -n "__fish_zcopy_needs_command" -s v -l verbose -d 'Print \'SRC\' -> \'DST\' [method] for each file, link and directory made, as cp -v (on stdout; on stderr with --json). Twice (-vv): also log which mechanisms are available and which one each file used, and why'
complete -c zcopy -n "__fish_zcopy_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zcopy -n "__fish_zcopy_needs_command" -s V -l version -d 'Print version'
complete -c zcopy -n "__fish_zcopy_needs_command" -a "doctor" -d 'Diagnose copying between two directories: which mechanisms work there (probed on small temporary files), the filesystems and mounts involved, whether a clone would share blocks, the effective configuration, and advice'
complete -c zcopy -n "__fish_zcopy_needs_command" -a "bench" -d 'Measure every copy mechanism, and the tools installed beside zcopy (cp, xcp, fcp, cpz, rsync), on this disk: large files, a tree of small files, a cold start, and peak memory. Medians of interleaved rounds, with ratios to zcopy\'s default'
complete -c zcopy -n "__fish_zcopy_needs_command" -a "verify" -d 'Check folders against their ASC MHL histories (the ascmhl/ folder that zcopy --mhl, the ascmhl tool or an offload application wrote): every file is hashed again and compared with the hash its history recorded first, in any of the ASC MHL formats. Reports verified, mismatched, missing and new files; exit status 1 on any mismatched or missing file'
complete -c zcopy -n "__fish_zcopy_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -l env-file -d 'Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once to layer files (a later file wins)' -r -F
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -l color -d 'Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR is not set), always or never' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -l json -d 'Print one JSON document instead of the report'
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -l no-env-file -d 'Do not read any .env file'
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -s q -l quiet -d 'Print no summary and no warnings (errors are still printed)'
complete -c zcopy -n "__fish_zcopy_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l sizes -d 'Sizes of the large files, e.g. 100M,1G,10G (replaces the defaults)' -r
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l rounds -d 'Rounds per contender (default 5, --quick 3)' -r
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l files -d 'Files in the small-file tree (default 10000, --quick 2000); the tree of 1 KiB files has ten times as many (default 100000, --quick 10000)' -r
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l frames -d 'Frames of 12 MiB in the image sequence (default 300, --quick 30)' -r
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l env-file -d 'Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once to layer files (a later file wins)' -r -F
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l color -d 'Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR is not set), always or never' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l quick -d 'A smaller run that finishes in under a minute'
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l json -d 'Print one JSON document instead of the tables'
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -l no-env-file -d 'Do not read any .env file'
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -s q -l quiet -d 'Print no summary and no warnings (errors are still printed)'
complete -c zcopy -n "__fish_zcopy_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -s j -l jobs -d 'Files hashed at once (1-256) [default: 4]' -r
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -l env-file -d 'Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once to layer files (a later file wins)' -r -F
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -l color -d 'Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR is not set), always or never' -r -f -a "auto\t'When stderr is a terminal and NO_COLOR is not set'
always\t'Always'
never\t'Never'"
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -l json -d 'Print one JSON document instead of the summary'
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -s v -l verbose -d 'List every file with its result, not only the problems'
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -l no-env-file -d 'Do not read any .env file'
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -s q -l quiet -d 'Print no summary and no warnings (errors are still printed)'
complete -c zcopy -n "__fish_zcopy_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zcopy -n "__fish_zcopy_using_subcommand help; and not __fish_seen_subcommand_from doctor bench verify help" -f -a "doctor" -d 'Diagnose copying between two directories: which mechanisms work there (probed on small temporary files), the filesystems and mounts involved, whether a clone would share blocks, the effective configuration, and advice'
complete -c zcopy -n "__fish_zcopy_using_subcommand help; and not __fish_seen_subcommand_from doctor bench verify help" -f -a "bench" -d 'Measure every copy mechanism, and the tools installed beside zcopy (cp, xcp, fcp, cpz, rsync), on this disk: large files, a tree of small files, a cold start, and peak memory. Medians of interleaved rounds, with ratios to zcopy\'s default'
complete -c zcopy -n "__fish_zcopy_using_subcommand help; and not __fish_seen_subcommand_from doctor bench verify help" -f -a "verify" -d 'Check folders against their ASC MHL histories (the ascmhl/ folder that zcopy --mhl, the ascmhl tool or an offload application wrote): every file is hashed again and compared with the hash its history recorded first, in any of the ASC MHL formats. Reports verified, mismatched, missing and new files; exit status 1 on any mismatched or missing file'
complete -c zcopy -n "__fish_zcopy_using_subcommand help; and not __fish_seen_subcommand_from doctor bench verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
