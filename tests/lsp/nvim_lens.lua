-- Headless Neovim, code lenses after `:write` (driven by test_neovim.py): the shipped
-- editors/neovim config starts the server; once the file's diagnostics are in, edit the
-- buffer (the lenses then read "not run"), `:write` it, and ask for the lenses at once, as
-- an autocmd on BufWritePost does (Neovim 0.7 cannot be asked to refresh them); then wait
-- for the lenses the config's own refresh shows. Write the titles as JSON, quit.
local repo = os.getenv('NETPOL_REPO')
local out = os.getenv('NETPOL_SMOKE_OUT')
vim.opt.runtimepath:prepend(repo .. '/editors/neovim')
vim.cmd('filetype on')
require('netpol').setup({ cmd = { os.getenv('NETPOL_SMOKE_CMD'), 'lsp' } })

local function lens_titles()
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) } }
  local answers = vim.lsp.buf_request_sync(0, 'textDocument/codeLens', params, 10000) or {}
  local titles = {}
  for _, a in pairs(answers) do
    for _, lens in ipairs(a.result or {}) do
      table.insert(titles, { line = lens.range.start.line, title = lens.command and lens.command.title })
    end
  end
  return titles
end

local function shown_titles()
  local titles = {}
  -- Neovim 0.7's `get` does not read 0 as the current buffer.
  for _, lens in ipairs(vim.lsp.codelens.get(vim.api.nvim_get_current_buf()) or {}) do
    table.insert(titles, { line = lens.range.start.line, title = lens.command and lens.command.title })
  end
  return titles
end

-- Nested, so that `:write` runs the BufWritePost autocmds (Neovim's own `didSave`, the
-- config's lens refresh) as it does when typed.
vim.api.nvim_create_autocmd('VimEnter', {
  nested = true,
  callback = function()
    local result = {}
    vim.wait(20000, function()
      return #vim.diagnostic.get(0) > 0
    end, 50)
    -- An edit: a comment line at the end.
    vim.api.nvim_buf_set_lines(0, -1, -1, false, { '// edited' })
    result.before = lens_titles()
    vim.cmd('write')
    result.after = lens_titles()
    -- And what the shipped config shows: its refresh on BufWritePost, answered once.
    vim.wait(10000, function()
      local shown = shown_titles()
      return #shown > 0 and not string.find(shown[1].title or '', 'not run', 1, true)
    end, 50)
    result.shown = shown_titles()
    local f = io.open(out, 'w')
    f:write(vim.fn.json_encode(result))
    f:close()
    vim.cmd('qa!')
  end,
})
