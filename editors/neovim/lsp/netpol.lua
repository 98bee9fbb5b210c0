-- The netpol language server, in the form of nvim-lspconfig's configs and of Neovim 0.11's
-- `lsp/` folder: put this folder on 'runtimepath' (or copy the file to ~/.config/nvim/lsp/),
-- then `vim.lsp.enable('netpol')`.
return {
  cmd = { 'netpol', 'lsp' },
  filetypes = { 'netpol' },
  root_markers = { '.git' },
}
