/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The web page's files (ui/, docs/ui.md), embedded into famfsd when it is
 * built, so a master serves exactly the page it was built with and reads
 * no file at run time. Each file is a pair of symbols, its first byte and
 * the byte past its end (master/api/ui.c). The assembler reads the files
 * with .incbin, relative to the directory make runs in (the tree's top);
 * the compiler's dependency files do not see them, so the Makefile names
 * them.
 */
.macro ui_file name, path
	.section .rodata.famfs_ui, "a", @progbits
	.balign 16
	.globl \name
	.hidden \name
	.type \name, @object
\name:
	.incbin "\path"
	.globl \name\()_end
	.hidden \name\()_end
\name\()_end:
	.size \name, \name\()_end - \name
.endm

	ui_file famfs_ui_index_html, "ui/index.html"
	ui_file famfs_ui_app_js, "ui/app.js"
	ui_file famfs_ui_style_css, "ui/style.css"
	ui_file famfs_ui_favicon_svg, "ui/favicon.svg"

/* No executable stack for this object. */
	.section .note.GNU-stack, "", @progbits
