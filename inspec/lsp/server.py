"""The language server on pygls: each document is elaborated when it opens and on every change (its
analysis kept per version, so hover, definition and completion read it without elaborating again), and
its diagnostics published. Saving any document re-analyses the open ones, whose imports may have
changed on disk.
"""

from __future__ import annotations

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from inspec import __version__
from inspec.lsp import features
from inspec.lsp.analysis import Analysis


class InspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("inspec", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.analyses: dict[str, tuple[str, Analysis]] = {}  # uri -> (the text analysed, analysis)
        # per document, its last analysis that knew some blocks (completion and definition while
        # the document does not parse)
        self.good: dict[str, Analysis] = {}

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis at its current version (elaborated now if it is not cached)."""
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        cached = self.analyses.get(uri)
        if cached is not None and cached[1].version == doc.version and cached[0] == text:
            return cached[1]
        path = to_fs_path(uri) if uri.startswith("file:") else None
        a = Analysis.of(uri, doc.version, text, path)
        self.analyses[uri] = (text, a)
        if a.net.blocks:
            self.good[uri] = a
        return a

    def fallback(self, uri: str) -> Analysis | None:
        """For a document that does not parse now: its last analysis that knew blocks, else this
        one with the lines in error blanked."""
        a = self.analysis(uri)
        if a.net.blocks or a.net.params:
            return None
        return self.good.get(uri) or a.repaired()

    def publish(self, uri: str) -> None:
        try:
            a = self.analysis(uri)
        except RecursionError:  # as the CLI says it (inspec.cli.main)
            nested = T.Diagnostic(
                range=T.Range(T.Position(0, 0), T.Position(0, 0)),
                message="the spec is nested too deeply to process",
                severity=T.DiagnosticSeverity.Error,
                source=features.SOURCE,
            )
            diags, version = [nested], self.workspace.get_text_document(uri).version
        else:
            diags, version = features.diagnostics(a), a.version
        self.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=version)
        )


def build() -> InspecServer:
    server = InspecServer()

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: InspecServer, params: T.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: InspecServer, params: T.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: InspecServer, params: T.DidSaveTextDocumentParams) -> None:
        ls.analyses.clear()
        for uri in list(ls.workspace.text_documents):
            ls.publish(uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: InspecServer, params: T.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.pop(uri, None)
        ls.good.pop(uri, None)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def hover(ls: InspecServer, params: T.HoverParams) -> T.Hover | None:
        a = ls.analysis(params.text_document.uri)
        return features.hover(a, (params.position.line, params.position.character))

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: InspecServer, params: T.DefinitionParams) -> list[T.Location]:
        uri = params.text_document.uri
        pos = (params.position.line, params.position.character)
        return features.definition(ls.analysis(uri), pos, ls.fallback(uri))

    @server.feature(
        T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["=", " ", "("])
    )
    def completion(ls: InspecServer, params: T.CompletionParams) -> T.CompletionList:
        uri = params.text_document.uri
        pos = (params.position.line, params.position.character)
        return features.completion(ls.analysis(uri), pos, ls.fallback(uri))

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: InspecServer, params: T.DocumentFormattingParams) -> list[T.TextEdit]:
        a = ls.analysis(params.text_document.uri)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return features.formatting(doc.source, a.name)

    return server


def serve() -> None:
    """Speak LSP on standard input and output until the client exits."""
    build().start_io()
