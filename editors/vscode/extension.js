// Starts `inspec lsp` (the command is the setting inspec.server.command) for .isp files. Without
// inspec on the PATH the extension still highlights, and says once how to install the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

async function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("inspec")
    .get("server.command", ["inspec", "lsp"]);
  client = new LanguageClient(
    "inspec",
    "inspec",
    { command, args },
    { documentSelector: [{ language: "inspec" }] },
  );
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    vscode.window.showWarningMessage(
      `inspec: could not start '${command} ${args.join(" ")}' (${err.message}); ` +
        "install the server with: pip install inspec[lsp]",
    );
  }
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
