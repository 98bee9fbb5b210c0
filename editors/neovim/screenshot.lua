-- Drives Neovim for the pictures in docs/editors.md (run by editors/neovim/screenshot.sh, in
-- xterm under Xvfb): the shipped config starts the server; wait for the diagnostics, save
-- (the tests run) and show the code lenses; for the hover picture, open the hover of a
-- service. Then write the ready file and wait to be photographed.
local repo = os.getenv('NETPOL_REPO')
vim.opt.runtimepath:prepend(repo .. '/editors/neovim')
vim.cmd('filetype on')
vim.o.number = true
vim.o.signcolumn = 'yes'
vim.o.laststatus = 0
vim.o.ruler = false
vim.o.showmode = false
require('netpol').setup({ cmd = { os.getenv('NETPOL_CMD'), 'lsp' } })

local function ready()
  local f = io.open(os.getenv('NETPOL_READY'), 'w')
  f:write('ready\n')
  f:close()
end

vim.api.nvim_create_autocmd('VimEnter', {
  callback = function()
    vim.wait(20000, function()
      return #vim.diagnostic.get(0) > 0
    end, 50)
    vim.cmd('silent write')
    vim.wait(1500, function() return false end, 50)
    vim.lsp.codelens.refresh()
    vim.wait(1500, function() return false end, 50)
    local shot = os.getenv('NETPOL_SHOT')
    if shot == 'hover' then
      vim.fn.cursor(vim.fn.search('^service checkout'), 10)
      vim.cmd('normal! zt')
      vim.lsp.buf.hover()
      vim.wait(1500, function() return false end, 50)
    else
      vim.fn.cursor(vim.fn.search('frontend *-> *checkout'), 1)
      vim.cmd('normal! zz')
    end
    ready()
  end,
})
