"""Plot nodes of the stand-in: a plot series (columns of a table node) and a chart that lists series.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; vtkMRMLPlotSeriesNode.h checked at commit
11a1fae, vtkMRMLPlotChartNode.h at 15cd9be). Nothing is drawn: the stand-in has no plot views.
"""

from ._mirror import mirrors
from ._mrml_display_nodes import _getVector3, _vector3
from ._mrml_nodes import vtkMRMLNode
from ._mrml_scene import _register


@_register
@mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h (class vtkMRMLPlotSeriesNode : public vtkMRMLNode)")
class vtkMRMLPlotSeriesNode(vtkMRMLNode):
    # vtkMRMLPlotSeriesNode.h: enum { PlotTypeLine, PlotTypeBar, PlotTypeScatter, PlotTypeScatterBar, PlotType_Last }
    PlotTypeLine, PlotTypeBar, PlotTypeScatter, PlotTypeScatterBar, PlotType_Last = range(5)
    # enum { MarkerStyleNone, MarkerStyleCross, MarkerStylePlus, MarkerStyleSquare, MarkerStyleCircle, MarkerStyleDiamond, ... }
    MarkerStyleNone, MarkerStyleCross, MarkerStylePlus, MarkerStyleSquare, MarkerStyleCircle, MarkerStyleDiamond, MarkerStyle_Last = range(7)
    # enum { LineStyleNone, LineStyleSolid, LineStyleDash, LineStyleDot, LineStyleDashDot, LineStyleDashDotDot, ... }
    LineStyleNone, LineStyleSolid, LineStyleDash, LineStyleDot, LineStyleDashDot, LineStyleDashDotDot, LineStyle_Last = range(7)

    _TABLE_ROLE = "table"  # vtkMRMLPlotSeriesNode::TableNodeReferenceRole (vtkMRMLPlotSeriesNode.cxx)
    _PLOT_TYPE_NAMES = ("Line", "Bar", "Scatter", "ScatterBar")  # GetPlotTypeAsString

    def __init__(self):
        super().__init__()
        # Defaults of the header's member initializers and of the constructor (Color = 0, 0, 0).
        self._plotType = self.PlotTypeLine
        self._xColumnName = ""
        self._yColumnName = ""
        self._markerStyle = self.MarkerStyleCircle
        self._lineStyle = self.LineStyleSolid
        self._color = (0.0, 0.0, 0.0)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: GetNodeTagName() returns \"PlotSeries\"")
    def GetNodeTagName(self):
        return "PlotSeries"

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: virtual void SetAndObserveTableNodeID(const char* tableNodeID)")
    def SetAndObserveTableNodeID(self, tableNodeID):
        self.SetNodeReferenceID(self._TABLE_ROLE, tableNodeID)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: const char* GetTableNodeID()")
    def GetTableNodeID(self):
        return self.GetNodeReferenceID(self._TABLE_ROLE)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: virtual vtkMRMLTableNode* GetTableNode()")
    def GetTableNode(self):
        node = self.GetNodeReference(self._TABLE_ROLE)
        return node if node is not None and node.IsA("vtkMRMLTableNode") else None

    @mirrors(
        "Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetMacro(PlotType, int) and virtual void SetPlotType(const char* type) "
        "(a name of GetPlotTypeAsString; an unknown name sets -1, as GetPlotTypeFromString returns)"
    )
    def SetPlotType(self, type):
        if isinstance(type, str):
            type = self._PLOT_TYPE_NAMES.index(type) if type in self._PLOT_TYPE_NAMES else -1
        self._plotType = int(type)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetMacro(PlotType, int)")
    def GetPlotType(self):
        return self._plotType

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetMacro(XColumnName, std::string)")
    def SetXColumnName(self, xColumnName):
        self._xColumnName = str(xColumnName)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetMacro(XColumnName, std::string)")
    def GetXColumnName(self):
        return self._xColumnName

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetMacro(YColumnName, std::string)")
    def SetYColumnName(self, yColumnName):
        self._yColumnName = str(yColumnName)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetMacro(YColumnName, std::string)")
    def GetYColumnName(self):
        return self._yColumnName

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetMacro(MarkerStyle, int)")
    def SetMarkerStyle(self, markerStyle):
        self._markerStyle = int(markerStyle)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetMacro(MarkerStyle, int)")
    def GetMarkerStyle(self):
        return self._markerStyle

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetMacro(LineStyle, int)")
    def SetLineStyle(self, lineStyle):
        self._lineStyle = int(lineStyle)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetMacro(LineStyle, int)")
    def GetLineStyle(self):
        return self._lineStyle

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkSetVector3Macro(Color, double) (SetColor(r, g, b) or SetColor(double[3]))")
    def SetColor(self, *color):
        self._color = _vector3(color)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotSeriesNode.h: vtkGetVector3Macro(Color, double) (a tuple, or fills a double[3])")
    def GetColor(self, color=None):
        return _getVector3(self._color, color)


@_register
@mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h (class vtkMRMLPlotChartNode : public vtkMRMLNode)")
class vtkMRMLPlotChartNode(vtkMRMLNode):
    _SERIES_ROLE = "plotSeries"  # vtkMRMLPlotChartNode::PlotSeriesNodeReferenceRole (vtkMRMLPlotChartNode.cxx)

    def __init__(self):
        super().__init__()
        self._title = None  # char* members start as nullptr
        self._xAxisTitle = None
        self._yAxisTitle = None
        self._legendVisibility = True

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: GetNodeTagName() returns \"PlotChart\"")
    def GetNodeTagName(self):
        return "PlotChart"

    @mirrors(
        "Libs/MRML/Core/vtkMRMLPlotChartNode.h: void AddAndObservePlotSeriesNodeID(const char* plotSeriesNodeID) "
        "(vtkMRMLNode::AddAndObserveNodeReferenceID: appends; a null ID is ignored)"
    )
    def AddAndObservePlotSeriesNodeID(self, plotSeriesNodeID):
        if plotSeriesNodeID:
            self._references.setdefault(self._SERIES_ROLE, []).append(str(plotSeriesNodeID))

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: void RemoveAllPlotSeriesNodeIDs()")
    def RemoveAllPlotSeriesNodeIDs(self):
        self._references.pop(self._SERIES_ROLE, None)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: int GetNumberOfPlotSeriesNodes()")
    def GetNumberOfPlotSeriesNodes(self):
        return len(self._references.get(self._SERIES_ROLE, []))

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: const char* GetNthPlotSeriesNodeID(int n) (null if there is no such node)")
    def GetNthPlotSeriesNodeID(self, n):
        ids = self._references.get(self._SERIES_ROLE, [])
        return ids[n] if 0 <= n < len(ids) else None

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: const char* GetPlotSeriesNodeID() (the first one)")
    def GetPlotSeriesNodeID(self):
        return self.GetNthPlotSeriesNodeID(0)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkMRMLPlotSeriesNode* GetNthPlotSeriesNode(int n)")
    def GetNthPlotSeriesNode(self, n):
        nodeID = self.GetNthPlotSeriesNodeID(n)
        node = None if nodeID is None or self._scene is None else self._scene.GetNodeByID(nodeID)
        return node if node is not None and node.IsA("vtkMRMLPlotSeriesNode") else None

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkMRMLPlotSeriesNode* GetPlotSeriesNode()")
    def GetPlotSeriesNode(self):
        return self.GetNthPlotSeriesNode(0)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkSetStringMacro(Title)")
    def SetTitle(self, title):
        self._title = None if title is None else str(title)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkGetStringMacro(Title)")
    def GetTitle(self):
        return self._title

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkSetStringMacro(XAxisTitle)")
    def SetXAxisTitle(self, xAxisTitle):
        self._xAxisTitle = None if xAxisTitle is None else str(xAxisTitle)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkGetStringMacro(XAxisTitle)")
    def GetXAxisTitle(self):
        return self._xAxisTitle

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkSetStringMacro(YAxisTitle)")
    def SetYAxisTitle(self, yAxisTitle):
        self._yAxisTitle = None if yAxisTitle is None else str(yAxisTitle)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkGetStringMacro(YAxisTitle)")
    def GetYAxisTitle(self):
        return self._yAxisTitle

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkSetMacro(LegendVisibility, bool)")
    def SetLegendVisibility(self, legendVisibility):
        self._legendVisibility = bool(legendVisibility)

    @mirrors("Libs/MRML/Core/vtkMRMLPlotChartNode.h: vtkGetMacro(LegendVisibility, bool)")
    def GetLegendVisibility(self):
        return self._legendVisibility
