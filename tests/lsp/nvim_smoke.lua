-- Headless Neovim smoke test (driven by test_neovim.py): the shipped editors/neovim config
-- starts the server for the opened .netpol file; wait for diagnostics, request a hover,
-- write both as JSON, quit.
local repo = os.getenv('NETPOL_REPO')
local out = os.getenv('NETPOL_SMOKE_OUT')
vim.opt.runtimepath:prepend(repo .. '/editors/neovim')
vim.cmd('filetype on')
require('netpol').setup({ cmd = { os.getenv('NETPOL_SMOKE_CMD'), 'lsp' } })

vim.api.nvim_create_autocmd('VimEnter', {
  callback = function()
    local result = { filetype = vim.bo.filetype }
    vim.wait(20000, function()
      return #vim.diagnostic.get(0) > 0
    end, 50)
    result.diagnostics = {}
    for _, d in ipairs(vim.diagnostic.get(0)) do
      table.insert(result.diagnostics, { code = d.code, message = d.message, lnum = d.lnum, col = d.col })
    end
    local line = tonumber(os.getenv('NETPOL_HOVER_LINE'))
    local col = tonumber(os.getenv('NETPOL_HOVER_COL'))
    local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = col } }
    local answers = vim.lsp.buf_request_sync(0, 'textDocument/hover', params, 10000) or {}
    for _, a in pairs(answers) do
      if a.result and a.result.contents then
        result.hover = a.result.contents.value
      end
    end
    local f = io.open(out, 'w')
    f:write(vim.fn.json_encode(result))
    f:close()
    vim.cmd('qa!')
  end,
})
